using System.Net;
using System.Net.Sockets;

namespace Vireo.Host;

/// <summary>Where a server listens: HOST:PORT, or unix:PATH (for a reverse proxy in front, such as nginx with TLS).</summary>
public static class ListenAddress
{
    public static bool TryParse(string text, out EndPoint endPoint)
    {
        endPoint = null!;
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = text["unix:".Length..];
            if (!Path.IsPathFullyQualified(path)) return false;
            endPoint = new UnixDomainSocketEndPoint(Path.GetFullPath(path));
            return true;
        }
        if (!IPEndPoint.TryParse(text, out var ip) || ip.Port == 0) return false;
        endPoint = ip;
        return true;
    }
}
