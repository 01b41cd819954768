using System.Security.Cryptography;
using System.Text;
using Vireo.Host;

namespace Vireo.Web;

/// <summary>
/// The web console's one credential: the login token printed at the daemon's first start, or a
/// password set later with `vireo web-password`. Only a salted PBKDF2-SHA256 hash is stored
/// ({config}/web/credential, 0600); the clear text is never written anywhere.
/// </summary>
public sealed class WebAuth(string configDir)
{
    private const int Iterations = 210_000;   // OWASP's figure for PBKDF2-HMAC-SHA256
    public string CredentialFile { get; } = Path.Combine(configDir, "web", "credential");

    /// <summary>At the first start: a new random token, stored hashed; null when a credential exists.</summary>
    public string? EnsureCredential()
    {
        if (File.Exists(CredentialFile)) return null;
        const string alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
        var token = string.Create(24, 0, (s, _) => { for (int i = 0; i < s.Length; i++) s[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)]; });
        Set(token);
        return token;
    }

    public void Set(string secret)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(secret), salt, Iterations, HashAlgorithmName.SHA256, 32);
        Directory.CreateDirectory(Path.GetDirectoryName(CredentialFile)!);
        AtomicFile.Write(CredentialFile, $"pbkdf2-sha256:{Iterations}:{Convert.ToBase64String(salt)}:{Convert.ToBase64String(hash)}\n");
        File.SetUnixFileMode(CredentialFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public bool Verify(string? secret)
    {
        if (string.IsNullOrEmpty(secret) || !File.Exists(CredentialFile)) return false;
        var parts = File.ReadAllText(CredentialFile).Trim().Split(':');
        if (parts.Length != 4 || parts[0] != "pbkdf2-sha256" || !int.TryParse(parts[1], out var iterations)) return false;
        var expected = Convert.FromBase64String(parts[3]);
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(secret), Convert.FromBase64String(parts[2]), iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }
}
