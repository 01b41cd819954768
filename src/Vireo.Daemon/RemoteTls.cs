using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Vireo.Host;

namespace Vireo.Daemon;

/// <summary>
/// The API over TLS (--listen tls:ADDR:PORT), as libvirtd's TLS socket: TLS 1.2 or later, and a
/// client certificate signed by the CA in --tls-dir required at the handshake — no certificate,
/// or one another CA signed, and the connection ends before a request is read. The CA decides
/// alone: the system's trusted roots are not consulted.
/// </summary>
public static class RemoteTls
{
    public static void Use(ListenOptions listen, X509Certificate2 server, X509Certificate2 ca) =>
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = server,
            SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            CheckCertificateRevocation = false,
            ClientCertificateValidation = (cert, _, _) => TlsFiles.Untrusted(cert, ca, clientUsage: true) is null,
        });
}
