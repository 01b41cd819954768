using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Connections.Features;
using Vireo.Engine;

namespace Vireo.Daemon;

/// <summary>
/// The read-only API socket, as libvirt's libvirt-sock-ro: any local user may list, read
/// XML, follow events and read statistics, and nothing else. What a GET would still give
/// away — a guest's console (typing into it), a volume's contents, the XML's passwords — is
/// refused too.
/// </summary>
public static class ReadOnlyApi
{
    /// <summary>Why this request may not be served on the read-only socket, or null when it may.</summary>
    public static string? Refusal(string method, string path, IQueryCollection query)
    {
        if (method is not ("GET" or "HEAD"))
            return $"{method} {path} changes things, which the read-only socket does not allow";
        if (path.EndsWith("/console", StringComparison.Ordinal))
            return "a guest's console takes input, which the read-only socket does not allow";
        if (path.StartsWith("/v1/pools/", StringComparison.Ordinal) && path.EndsWith("/data", StringComparison.Ordinal))
            return "a volume's contents are not served on the read-only socket";
        if (query.TryGetValue("securityInfo", out var s) && !string.Equals(s, "false", StringComparison.OrdinalIgnoreCase))
            return "XML with its passwords (--security-info) is not served on the read-only socket";
        return null;
    }

    private const string Mark = "vireo.read-only";

    /// <summary>Marks the connections of a listener (Kestrel's unix sockets carry no local address to tell them apart).</summary>
    public static void MarkConnections(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions listen) =>
        listen.Use(next => conn =>
        {
            conn.Items[Mark] = true;
            return next(conn);
        });

    /// <summary>Answers requests on marked connections that are not read-only with 403 and the reason.</summary>
    public static Task Gate(HttpContext ctx, RequestDelegate next)
    {
        if (ctx.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(Mark) != true) return next(ctx);
        if (Refusal(ctx.Request.Method, ctx.Request.Path.Value ?? "/", ctx.Request.Query) is not { } why) return next(ctx);
        throw new VireoException(ErrorCode.AccessDenied,
            $"Access denied: {why}. Use the daemon's main socket (as root or a member of its --socket-group), without -r/--readonly.");
    }
}
