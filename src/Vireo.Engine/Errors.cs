namespace Vireo.Engine;

public enum ErrorCode
{
    /// <summary>The named object does not exist (HTTP 404).</summary>
    NotFound,
    /// <summary>The request is malformed or names something invalid (HTTP 400).</summary>
    InvalidArgument,
    /// <summary>The object is in the wrong state for this operation (HTTP 409).</summary>
    InvalidOperation,
    /// <summary>The operation was tried and failed on the host (HTTP 500).</summary>
    OperationFailed,
    /// <summary>The operation did not finish in time (HTTP 504).</summary>
    Timeout,
}

/// <summary>An error for the user: Message says what went wrong and what to do.</summary>
public sealed class VireoException(ErrorCode code, string message, IReadOnlyList<string>? details = null) : Exception(message)
{
    public ErrorCode Code { get; } = code;
    public IReadOnlyList<string> Details { get; } = details ?? [];

    /// <summary>A document the model refused: its problems (with their lines) as the details.</summary>
    public static VireoException Invalid(Vireo.Model.DefinitionException e) =>
        new(ErrorCode.InvalidArgument, e.Message, e.Problems.Select(p => p.ToString()).ToList());

    public static VireoException NoDomain(string name) =>
        new(ErrorCode.NotFound, $"Domain not found: no domain with matching name '{name}'.");
}
