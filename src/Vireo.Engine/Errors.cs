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
    /// <summary>A bug: an error nothing expected (HTTP 500, logged with its stack).</summary>
    InternalError,
    /// <summary>The caller may not do this here: a change asked of the read-only socket (HTTP 403).</summary>
    AccessDenied,
}

/// <summary>An error for the user: Message says what went wrong and what to do.</summary>
public sealed class VireoException(ErrorCode code, string message, IReadOnlyList<string>? details = null) : Exception(message)
{
    public ErrorCode Code { get; } = code;
    public IReadOnlyList<string> Details { get; } = details ?? [];
    /// <summary>The HTTP status to answer with, when the code's own does not fit (415, 405).</summary>
    public int? HttpStatus { get; init; }

    /// <summary>A document the model refused: its problems (with their lines) as the details.</summary>
    public static VireoException Invalid(Vireo.Model.DefinitionException e) =>
        new(ErrorCode.InvalidArgument, e.Message, e.Problems.Select(p => p.ToString()).ToList());

    public static VireoException NoDomain(string name) =>
        new(ErrorCode.NotFound, $"Domain not found: no domain with matching name '{name}'.");
}

/// <summary>
/// What an exception that escaped an operation means for a client, in one place for every front
/// end (the REST API and libvirt's protocol): the host's own failures and QEMU's answers become
/// VireoExceptions with their words; anything else is a bug (null).
/// </summary>
public static class Failures
{
    public static VireoException? Classify(Exception e) => e switch
    {
        VireoException v => v,
        Vireo.Host.LinkException or Vireo.Host.FirewallException or Vireo.Host.CommandException => new(ErrorCode.OperationFailed, e.Message),
        // QEMU went away under the call (destroyed, crashed): the domain's state changed, as
        // libvirt's "domain is no longer running" (VIR_ERR_OPERATION_INVALID), not a fault of ours.
        Vireo.Qemu.QmpDisconnectedException => new(ErrorCode.InvalidOperation, $"{e.Message} The domain is no longer running."),
        Vireo.Qemu.QmpErrorException => new(ErrorCode.OperationFailed, e.Message),
        TimeoutException => new(ErrorCode.Timeout, e.Message),
        System.Text.Json.JsonException => new(ErrorCode.InvalidArgument, $"The request body is not valid JSON for this call: {e.Message}"),
        System.Xml.XmlException => new(ErrorCode.InvalidArgument, $"The XML is not well-formed: {e.Message}"),
        // .NET's own checks on what a client sent (a NUL in a path, an empty name).
        ArgumentException => new(ErrorCode.InvalidArgument, $"Invalid argument: {e.Message}"),
        _ => null,
    };
}
