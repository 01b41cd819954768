using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Vireo.Host;

namespace Vireo.Cli;

/// <summary>Where the daemon is: its unix socket, or a TLS port (tls://HOST:PORT) with the CA and client certificate in a directory.</summary>
public sealed record DaemonEndpoint(string? SocketPath, string? Host = null, int Port = 0, string? TlsDir = null)
{
    /// <summary>Where the CLI looks for cacert.pem, clientcert.pem and clientkey.pem without --tls-dir or $VIREO_TLS_DIR.</summary>
    public const string DefaultTlsDir = "/etc/vireo/tls";

    public override string ToString() => SocketPath is not null ? "unix:" + SocketPath : $"tls://{Host}:{Port}";

    public static DaemonEndpoint Parse(string uri, string? tlsDir)
    {
        if (uri.StartsWith("tls://", StringComparison.Ordinal))
        {
            var hostPort = uri["tls://".Length..].TrimEnd('/');
            var colon = hostPort.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(hostPort[(colon + 1)..], out var port) || port is <= 0 or > 65535)
                throw new CliException($"'{uri}' names no port; use tls://HOST:PORT (e.g. tls://kvm1.example.org:16514).");
            return new DaemonEndpoint(null, hostPort[..colon].Trim('[', ']'), port,
                tlsDir ?? Environment.GetEnvironmentVariable("VIREO_TLS_DIR") ?? DefaultTlsDir);
        }
        return new DaemonEndpoint(DaemonClient.ParseConnect(uri));
    }

    /// <summary>One connection, TLS already negotiated for tls://; failures are CliExceptions that say what to fix.</summary>
    public Stream Connect()
    {
        if (SocketPath is { } path)
        {
            try { return UnixClient.Connect(path); }
            catch (IOException e) when (e.HResult == 13 /* EACCES */)
            {
                throw new CliException($"failed to connect to the daemon at unix:{path}: permission denied. Only root and members of the daemon's --socket-group (vireo) may use it: run as root, join the group (usermod -aG vireo $USER), or give -r (--readonly) to list and read.");
            }
            catch (IOException e)
            {
                throw new CliException($"failed to connect to the daemon at unix:{path}: {e.Message}. Start it with './vireo daemon', or point --connect / VIREO_CONNECT at its socket.");
            }
        }
        return ConnectTls();
    }

    // Its own method, so that a unix-socket call never loads the TLS and X509 assemblies (start-up time).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private Stream ConnectTls()
    {
        var files = new TlsFiles(TlsDir!);
        X509Certificate2 ca, client;
        try
        {
            ca = files.LoadCa();
            client = files.LoadPair(server: false);
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException)
        {
            throw new CliException($"cannot use the certificates for {this}: {e.Message}");
        }
        var tcp = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try { tcp.Connect(Host!, Port); }
        catch (SocketException e)
        {
            tcp.Dispose();
            throw new CliException($"failed to connect to the daemon at {this}: {e.Message}. Is it started with --listen tls:ADDR:{Port}, and does a firewall let {Port}/tcp through?");
        }
        string? why = null;
        var ssl = new SslStream(new NetworkStream(tcp, ownsSocket: true), leaveInnerStreamOpen: false);
        try
        {
            ssl.AuthenticateAsClient(new SslClientAuthenticationOptions
            {
                TargetHost = Host,
                ClientCertificates = [client],
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                // This CA alone decides, and the certificate must name the host dialled.
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0) why = $"its certificate is not for '{Host}' (tls-init --host names what it may be dialled as)";
                    else why = TlsFiles.Untrusted(cert as X509Certificate2, ca, clientUsage: false);
                    return why is null;
                },
            });
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            ssl.Dispose();
            throw new CliException(why is not null
                ? $"the daemon at {this} is not trusted: {why}. Use the cacert.pem of the daemon's CA (--tls-dir)."
                : $"the daemon at {this} refused the TLS handshake ({e.Message}): it admits only clients whose certificate its CA signed; use that CA's clientcert.pem and clientkey.pem (--tls-dir {TlsDir}).");
        }
        return ssl;
    }
}
