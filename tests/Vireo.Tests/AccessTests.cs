using Microsoft.AspNetCore.Http;
using Vireo.Daemon;
using Vireo.Web;

namespace Vireo.Tests;

/// <summary>What the read-only socket serves, and the web console's login throttle.</summary>
public class AccessTests
{
    private static IQueryCollection Query(string q) => new QueryCollection(Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(q));

    [Theory]
    [InlineData("GET", "/v1/domains", "")]
    [InlineData("GET", "/v1/domains/web/xml", "?inactive=true")]
    [InlineData("GET", "/v1/domains/web/xml", "?securityInfo=false")]
    [InlineData("GET", "/v1/events", "")]
    [InlineData("GET", "/v1/domains/web/blockstats", "")]
    [InlineData("HEAD", "/v1/pools/default/volumes", "")]
    public void The_read_only_socket_serves_lists_xml_events_and_stats(string method, string path, string query) =>
        Assert.Null(ReadOnlyApi.Refusal(method, path, Query(query)));

    [Theory]
    [InlineData("POST", "/v1/domains/web/start", "", "changes things")]
    [InlineData("DELETE", "/v1/domains/web", "", "changes things")]
    [InlineData("PUT", "/v1/web/password", "", "changes things")]
    [InlineData("GET", "/v1/domains/web/console", "", "console takes input")]
    [InlineData("GET", "/v1/pools/default/volumes/disk.qcow2/data", "?offset=0", "contents")]
    [InlineData("GET", "/v1/domains/web/xml", "?securityInfo=true", "passwords")]
    [InlineData("GET", "/v1/domains/web/xml", "?securityInfo", "passwords")]
    public void The_read_only_socket_refuses_changes_consoles_contents_and_passwords(string method, string path, string query, string why) =>
        Assert.Contains(why, ReadOnlyApi.Refusal(method, path, Query(query)));

    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now = new(2026, 12, 4, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Five_wrong_logins_a_minute_are_allowed_per_address_then_it_waits_out_the_minute()
    {
        var clock = new Clock();
        var t = new LoginThrottle(clock);
        for (int i = 0; i < LoginThrottle.Allowed; i++)
        {
            Assert.Null(t.Refused("10.0.0.1"));
            t.Failed("10.0.0.1");
            clock.Now += TimeSpan.FromSeconds(5);
        }
        Assert.Equal(TimeSpan.FromSeconds(35), t.Refused("10.0.0.1"));   // a minute from the first failure
        Assert.Null(t.Refused("10.0.0.2"));                              // another address is not held up
        clock.Now += TimeSpan.FromSeconds(35);
        Assert.Null(t.Refused("10.0.0.1"));                              // the window has passed
        t.Failed("10.0.0.1");
        Assert.Null(t.Refused("10.0.0.1"));                              // and the count started again
        for (int i = 0; i < LoginThrottle.Allowed; i++) t.Failed("10.0.0.3");
        t.Succeeded("10.0.0.3");
        Assert.Null(t.Refused("10.0.0.3"));                              // a right login clears it
    }
}

public class TlsTests
{
    [Theory]
    [InlineData("tls://kvm1.example.org:16514", "kvm1.example.org", 16514)]
    [InlineData("tls://[::1]:16514/", "::1", 16514)]
    [InlineData("tls://192.0.2.10:1", "192.0.2.10", 1)]
    public void Tls_uris_name_a_host_and_a_port(string uri, string host, int port)
    {
        var e = Vireo.Cli.DaemonEndpoint.Parse(uri, "/d");
        Assert.Equal((host, port, "/d", (string?)null), (e.Host, e.Port, e.TlsDir, e.SocketPath));
    }

    [Theory]
    [InlineData("tls://kvm1")]
    [InlineData("tls://kvm1:0")]
    [InlineData("tls://kvm1:99999")]
    public void A_tls_uri_without_a_port_is_refused_with_the_form_to_use(string uri) =>
        Assert.Contains("use tls://HOST:PORT", Assert.Throws<Vireo.Cli.CliException>(() => Vireo.Cli.DaemonEndpoint.Parse(uri, null)).Message);

    [Fact]
    public void Certificates_chain_to_their_own_ca_only_and_only_for_their_use()
    {
        var dir = Directory.CreateTempSubdirectory("vireo-tls-").FullName;
        try
        {
            var mine = new Vireo.Host.TlsFiles(Path.Combine(dir, "a"));
            var other = new Vireo.Host.TlsFiles(Path.Combine(dir, "b"));
            mine.Create(["kvm1", "192.0.2.10"], "alice", TimeProvider.System);
            other.Create(["kvm1"], "mallory", TimeProvider.System);
            using var ca = mine.LoadCa();
            using var client = mine.LoadPair(server: false);
            using var server = mine.LoadPair(server: true);
            using var stranger = other.LoadPair(server: false);
            Assert.Null(Vireo.Host.TlsFiles.Untrusted(client, ca, clientUsage: true));
            Assert.Null(Vireo.Host.TlsFiles.Untrusted(server, ca, clientUsage: false));
            Assert.NotNull(Vireo.Host.TlsFiles.Untrusted(server, ca, clientUsage: true));    // a server certificate is no client's
            Assert.Contains("is not signed by this CA", Vireo.Host.TlsFiles.Untrusted(stranger, ca, clientUsage: true));
            Assert.Equal("it sent no certificate", Vireo.Host.TlsFiles.Untrusted(null, ca, clientUsage: true));
            Assert.True(client.HasPrivateKey && server.HasPrivateKey);
            Assert.Contains("CN=alice", client.Subject);
            var san = server.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509SubjectAlternativeNameExtension>().Single();
            Assert.Equal(["kvm1"], san.EnumerateDnsNames());
            Assert.Equal([System.Net.IPAddress.Parse("192.0.2.10")], san.EnumerateIPAddresses());
            Assert.Throws<IOException>(() => mine.Create(["kvm1"], "again", TimeProvider.System));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

public class DacLabelTests
{
    [Fact]
    public void Files_are_given_to_the_qemu_user_recorded_first_and_handed_back()
    {
        var dir = Directory.CreateTempSubdirectory("vireo-dac-").FullName;
        try
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ed);
            var user = new Vireo.Host.QemuUser("test-qemu", 54321, 54321);
            string F(string name, UnixFileMode mode) { var p = Path.Combine(dir, name); File.WriteAllText(p, name); File.SetUnixFileMode(p, mode); return p; }
            var disk = F("disk.img", UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var iso = F("cd.iso", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            var key = F("kernel", UnixFileMode.UserRead);
            var record = Path.Combine(dir, "g.dac");
            Vireo.Host.DacLabels.Apply([new(disk, Write: true), new(iso, Write: false), new(key, Write: false), new(Path.Combine(dir, "gone"), Write: true)], user, record);
            Assert.Equal(54321, Owner(disk));
            Assert.Equal(0, Owner(iso));      // read-only and anyone may read it: left alone
            Assert.Equal(54321, Owner(key));  // read-only but root's alone: given
            Assert.Equal([$"0 0 {disk}", $"0 0 {key}"], File.ReadAllLines(record));
            // Later additions join the record.
            var hot = F("hot.img", UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Vireo.Host.DacLabels.Apply([new(hot, Write: true)], user, record);
            Assert.Equal(3, File.ReadAllLines(record).Length);
            Vireo.Host.DacLabels.Restore(record);
            Assert.All(new[] { disk, key, hot, iso }, f => Assert.Equal(0, Owner(f)));
            Assert.False(File.Exists(record));

            var closed = Directory.CreateDirectory(Path.Combine(dir, "closed")).FullName;
            File.SetUnixFileMode(closed, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Assert.Equal($"test-qemu may not enter {closed} (mode 700, owner 0:0), which holds {closed}/x.img: give it o+x (chmod o+x {closed}), move the file, or opt the guest out with <seclabel type='none'/>",
                Vireo.Host.DacLabels.Unreachable(Path.Combine(closed, "x.img"), user));
            Assert.Null(Vireo.Host.DacLabels.Unreachable(disk, user));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("/etc/shadow", "is a system file (under /etc)")]
    [InlineData("/boot/../etc/passwd", "is a system file (under /etc)")]
    [InlineData("/usr/share/OVMF/OVMF_CODE.fd", "is a system file (under /usr)")]
    [InlineData("/dev/null", "is a device node that is not a disk")]
    [InlineData("/var/lib/vireo/images/disk.qcow2", null)]
    [InlineData("/srv/vm/disk.img", null)]
    [InlineData("/var/log/libvirt/qemu/web-serial.log", null)]
    public void The_hosts_own_files_are_never_given_to_qemu(string path, string? why) =>
        Assert.Equal(why, Vireo.Host.DacLabels.SystemFile(path));

    [Theory]
    [InlineData("/etc/cron.d/guest-serial", "would be a new file under /etc")]
    [InlineData("/usr/local/bin/x", "would be a new file under /usr")]
    [InlineData("/var/log/guest.serial", null)]
    [InlineData("/srv/vm/new.log", null)]
    public void A_new_file_for_qemu_is_never_made_among_the_hosts_own(string path, string? why) =>
        Assert.Equal(why, Vireo.Host.DacLabels.NoNewFile(path));

    [Fact]
    public void A_system_file_qemu_only_reads_and_anyone_may_read_needs_no_change_and_is_not_refused() =>
        Assert.Null(Vireo.Host.DacLabels.Refusal(new("/usr/bin/env", Write: false), new Vireo.Host.QemuUser("test-qemu", 54321, 54321)));

    [Fact]
    public void Qemu_is_started_through_setpriv_without_capabilities_or_new_privileges()
    {
        var argv = new Vireo.Host.QemuUser("vireo-qemu", 995, 995).Wrap(["/usr/bin/qemu-system-x86_64", "-S"]);
        Assert.Equal(["/usr/bin/setpriv", "--reuid=995", "--regid=995", "--init-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--", "/usr/bin/qemu-system-x86_64", "-S"], argv);
        // Locked memory keeps CAP_IPC_LOCK alone, as an ambient capability across the exec.
        Assert.Equal(["/usr/bin/setpriv", "--reuid=995", "--regid=995", "--init-groups", "--no-new-privs", "--inh-caps=-all,+ipc_lock", "--ambient-caps=-all,+ipc_lock", "--bounding-set=-all,+ipc_lock", "--", "q"],
            new Vireo.Host.QemuUser("vireo-qemu", 995, 995).Wrap(["q"], lockMemory: true));
    }

    private static int Owner(string path) => (int)Vireo.Host.FileOwner.Of(path).Uid;
}
