using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;

namespace Vireo.Model;

/// <summary>
/// virt-install's --cloud-init: what goes into a NoCloud seed (volume label "cidata", files
/// user-data, meta-data and optionally network-config). Files named by the options are read
/// by the caller (the CLI reads the user's files; the web wizard sends the text).
/// </summary>
public sealed record CloudInitPlan(
    string Pool, string Volume, string Target,
    string? UserDataFile, string? MetaDataFile, string? NetworkConfigFile,
    bool GeneratePassword, string? PasswordFile, string? SshKeyFile, bool Disable)
{
    /// <summary>--cloud-init's options; a bare --cloud-init means root-password-generate=on,disable=on, as in virt-install.</summary>
    public static CloudInitPlan Parse(string text, string domain, string target, List<Problem> problems)
    {
        var s = new OptionString("--cloud-init", text);
        var userData = s.Get("user-data");
        var gen = s.Get("root-password-generate") is { } g ? g is "on" or "yes" or "true" : null as bool?;
        var pwFile = s.Get("root-password-file");
        var key = s.Get("ssh-key") ?? s.Get("clouduser-ssh-key");
        var disable = s.Get("disable") is { } dis ? dis is "on" or "yes" or "true" : null as bool?;
        if (userData is not null && (gen == true || pwFile is not null || key is not null))
            problems.Add(new Problem("--cloud-init user-data= is used as it is: put the password and SSH keys into it instead of adding root-password-generate=, root-password-file= or ssh-key=."));
        if (gen == true && pwFile is not null)
            problems.Add(new Problem("--cloud-init: root-password-generate=on and root-password-file= exclude each other; pick one."));
        // With nothing that sets a way in, generate a root password (virt-install does the same).
        var generate = gen ?? (userData is null && pwFile is null && key is null);
        var plan = new CloudInitPlan("default", $"{domain}-cidata.iso", target, userData, s.Get("meta-data"), s.Get("network-config"),
            generate, pwFile, key, disable ?? userData is null);
        foreach (var k in s.Unused)
            problems.Add(new Problem($"--cloud-init: unknown option '{k}'; use user-data=, meta-data=, network-config=, root-password-generate=on, root-password-file=, ssh-key=, disable=on."));
        return plan;
    }

    /// <summary>A password for root: 16 characters from an alphabet without look-alikes.</summary>
    public static string NewPassword()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return string.Create(16, 0, (span, _) => { for (int i = 0; i < span.Length; i++) span[i] = alphabet[RandomNumberGenerator.GetInt32(alphabet.Length)]; });
    }

    /// <summary>The seed's files. <paramref name="read"/> reads a file the options name; <paramref name="password"/> is the root password to set, if any.</summary>
    public IReadOnlyList<(string Name, string Text)> Render(string domain, Guid uuid, Func<string, string> read, string? password)
    {
        string userData;
        if (UserDataFile is not null) userData = read(UserDataFile);
        else
        {
            var sb = new StringBuilder("#cloud-config\n");
            if (password is not null)
            {
                sb.Append("chpasswd:\n  list: |\n    root:").Append(password).Append('\n');
                // A generated password must be changed at the first login; one the user chose need not.
                sb.Append("  expire: ").Append(GeneratePassword ? "True" : "False").Append('\n');
                sb.Append("ssh_pwauth: True\n");
            }
            if (SshKeyFile is not null)
            {
                var keys = read(SshKeyFile).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(k => !k.StartsWith('#'));
                sb.Append("users:\n  - name: root\n    ssh_authorized_keys:\n");
                foreach (var k in keys) sb.Append("      - ").Append(k).Append('\n');
            }
            if (Disable) sb.Append("runcmd:\n  - [ touch, /etc/cloud/cloud-init.disabled ]\n");
            userData = sb.ToString();
        }
        var metaData = MetaDataFile is not null ? read(MetaDataFile) : $"instance-id: {domain}-{uuid.ToString("N")[..8]}\nlocal-hostname: {domain}\n";
        var files = new List<(string, string)> { ("user-data", userData), ("meta-data", metaData) };
        if (NetworkConfigFile is not null) files.Add(("network-config", read(NetworkConfigFile)));
        return files;
    }
}

/// <summary>
/// What an install attaches for its first run only — a cloud-init seed, an installer's kernel
/// and initrd (--location) — recorded in the domain's metadata:
/// <code>&lt;vireo:firstBoot xmlns:vireo='https://vireo.dev/xmlns/domain/1' restartOnReboot='yes'&gt;
///   &lt;vireo:detach disk='sda' delete='yes'/&gt;
///   &lt;vireo:directBoot delete='yes'/&gt;
/// &lt;/vireo:firstBoot&gt;</code>
/// When the QEMU that ran with it ends, the engine drops those disks (deleting what delete='yes'
/// names) and the direct kernel boot from the definition; with restartOnReboot the installer's
/// reboot ends the first run and the domain starts again from its disk (virt-install's
/// install phase, then the final definition).
/// </summary>
public sealed record FirstBoot(IReadOnlyList<(string Disk, bool Delete)> Detach, bool DirectBoot, bool DeleteKernel, bool RestartOnReboot)
{
    public const string Namespace = "https://vireo.dev/xmlns/domain/1";
    private static readonly XNamespace Ns = Namespace;

    public static FirstBoot? Read(DomainDef d)
    {
        var e = d.Metadata?.Element(Ns + "firstBoot");
        if (e is null) return null;
        var detach = e.Elements(Ns + "detach").Select(x => ((string?)x.Attribute("disk") ?? "", (string?)x.Attribute("delete") == "yes")).Where(x => x.Item1.Length > 0).ToList();
        var kernel = e.Element(Ns + "directBoot");
        return new FirstBoot(detach, kernel is not null, (string?)kernel?.Attribute("delete") == "yes", (string?)e.Attribute("restartOnReboot") == "yes");
    }

    public void Mark(DomainDef d)
    {
        var e = new XElement(Ns + "firstBoot", new XAttribute(XNamespace.Xmlns + "vireo", Namespace));
        if (RestartOnReboot) e.Add(new XAttribute("restartOnReboot", "yes"));
        foreach (var (disk, delete) in Detach)
            e.Add(new XElement(Ns + "detach", new XAttribute("disk", disk), delete ? new XAttribute("delete", "yes") : null));
        if (DirectBoot) e.Add(new XElement(Ns + "directBoot", DeleteKernel ? new XAttribute("delete", "yes") : null));
        d.Metadata ??= new XElement("metadata");
        d.Metadata.Element(Ns + "firstBoot")?.Remove();
        d.Metadata.Add(e);
    }

    /// <summary>The definition after the first run: without the marker, the detached disks and the direct kernel boot.</summary>
    public DomainDef After(DomainDef d)
    {
        var next = d.Clone();
        next.Metadata?.Element(Ns + "firstBoot")?.Remove();
        if (next.Metadata is { } m && !m.HasElements && !m.HasAttributes) next.Metadata = null;
        next.Devices.Disks.RemoveAll(x => Detach.Any(t => t.Disk == x.TargetDev));
        if (DirectBoot)
        {
            next.Os.Kernel = next.Os.Initrd = next.Os.Cmdline = null;
            if (next.Os.BootDevices.Count == 0 && !next.Devices.Disks.Any(x => x.BootOrder is not null)) next.Os.BootDevices.Add("hd");
        }
        return next;
    }
}
