using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Vireo.Host;

/// <summary>
/// The certificates of remote access over TLS, in one directory with libvirt's file names: a CA
/// (cacert.pem, cakey.pem), the daemon's certificate (servercert.pem, serverkey.pem) and a
/// client's (clientcert.pem, clientkey.pem). Both sides trust only that CA: the daemon admits a
/// client whose certificate it signed, the client a daemon whose certificate it signed for the
/// name it dialled. .NET's own X509 classes make and check them; keys are ECDSA P-256.
/// </summary>
public sealed class TlsFiles(string dir)
{
    public string Dir { get; } = Path.GetFullPath(dir);
    public string CaCert => Path.Combine(Dir, "cacert.pem");
    public string CaKey => Path.Combine(Dir, "cakey.pem");
    public string ServerCert => Path.Combine(Dir, "servercert.pem");
    public string ServerKey => Path.Combine(Dir, "serverkey.pem");
    public string ClientCert => Path.Combine(Dir, "clientcert.pem");
    public string ClientKey => Path.Combine(Dir, "clientkey.pem");

    private const string ServerAuth = "1.3.6.1.5.5.7.3.1", ClientAuth = "1.3.6.1.5.5.7.3.2";

    /// <summary>
    /// Makes a CA and a server certificate for <paramref name="hosts"/> (names and addresses) and a
    /// client certificate signed by it. Refuses to overwrite: a new CA would lock out every client
    /// the old one signed.
    /// </summary>
    public IReadOnlyList<string> Create(IReadOnlyList<string> hosts, string clientName, TimeProvider time)
    {
        if (hosts.Count == 0) throw new ArgumentException("Name at least one --host: the name or address clients dial (e.g. --host kvm1.example.org --host 192.0.2.10).");
        var existing = new[] { CaCert, CaKey, ServerCert, ServerKey, ClientCert, ClientKey }.Where(File.Exists).ToList();
        if (existing.Count > 0)
            throw new IOException($"{string.Join(", ", existing)} already exist{(existing.Count == 1 ? "s" : "")}; a new CA would lock out the clients the old one signed. Use another --dir, or remove them first.");
        Directory.CreateDirectory(Dir);
        var now = time.GetUtcNow();

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caReq = new CertificateRequest($"CN=Vireo CA for {hosts[0]}", caKey, HashAlgorithmName.SHA256);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
        using var ca = caReq.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));

        var san = new SubjectAlternativeNameBuilder();
        foreach (var h in hosts)
            if (IPAddress.TryParse(h, out var ip)) san.AddIpAddress(ip);
            else san.AddDnsName(h);
        using var server = Leaf($"CN={hosts[0]}", ServerAuth, ca, caKey, now, san.Build(), out var serverKey);
        using var client = Leaf($"CN={clientName}", ClientAuth, ca, caKey, now, null, out var clientKey);

        Write(CaCert, ca.ExportCertificatePem(), secret: false);
        Write(CaKey, caKey.ExportPkcs8PrivateKeyPem(), secret: true);
        Write(ServerCert, server.ExportCertificatePem(), secret: false);
        Write(ServerKey, serverKey.ExportPkcs8PrivateKeyPem(), secret: true);
        Write(ClientCert, client.ExportCertificatePem(), secret: false);
        Write(ClientKey, clientKey.ExportPkcs8PrivateKeyPem(), secret: true);
        serverKey.Dispose();
        clientKey.Dispose();
        return [CaCert, CaKey, ServerCert, ServerKey, ClientCert, ClientKey];
    }

    private static X509Certificate2 Leaf(string subject, string usage, X509Certificate2 ca, ECDsa caKey, DateTimeOffset now, X509Extension? san, out ECDsa key)
    {
        key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        req.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        if (san is not null) req.CertificateExtensions.Add(san);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        // 825 days: what browsers and most TLS stacks accept for a leaf.
        return req.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddMinutes(-5), now.AddDays(825), serial);
    }

    private static void Write(string path, string pem, bool secret)
    {
        using var f = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write,
            UnixCreateMode = secret ? UnixFileMode.UserRead | UnixFileMode.UserWrite : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        });
        f.Write(System.Text.Encoding.ASCII.GetBytes(pem + "\n"));
    }

    /// <summary>The CA certificate, or an IOException that says which file is missing and how to make it.</summary>
    public X509Certificate2 LoadCa() => X509CertificateLoader.LoadCertificate(System.Text.Encoding.ASCII.GetBytes(Read(CaCert)));

    /// <summary>A certificate with its private key (the server's or a client's).</summary>
    public X509Certificate2 LoadPair(bool server)
    {
        var (cert, key) = server ? (ServerCert, ServerKey) : (ClientCert, ClientKey);
        Read(cert);
        Read(key);
        using var ephemeral = X509Certificate2.CreateFromPemFile(cert, key);
        // Re-imported as PKCS#12: SslStream wants a key it can hand to OpenSSL as a whole.
        return X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
    }

    private string Read(string path) => File.Exists(path)
        ? File.ReadAllText(path)
        : throw new IOException($"{path} does not exist; make the certificates with 'vireo tls-init --dir {Dir} --host NAME' (or point --tls-dir at where they are).");

    /// <summary>
    /// Whether <paramref name="cert"/> chains to <paramref name="ca"/> alone (not the system's
    /// roots) and may be used for <paramref name="usage"/>; the reason when not.
    /// </summary>
    public static string? Untrusted(X509Certificate2? cert, X509Certificate2 ca, bool clientUsage)
    {
        if (cert is null) return "it sent no certificate";
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(clientUsage ? ClientAuth : ServerAuth));
        if (!chain.Build(cert))
            return $"its certificate ({cert.Subject}) is not signed by this CA: {string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct())}";
        return null;
    }
}
