using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Vireo.IntegrationTests;

/// <summary>
/// Regression tests for what probing the daemon from outside found (issue 15): races that left a
/// QEMU nobody manages, files that could not be read back, a monitor that does not answer, and
/// answers without a message.
/// </summary>
[Collection("vireo")]
public sealed class TrustTests(VireoFixture fx)
{
    [Fact]
    public async Task Undefine_during_start_leaves_no_qemu_that_no_domain_owns()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var rng = new Random(15);
        for (int i = 0; i < 12; i++)
        {
            await d.DefineAsync(d.GuestXml("race"));
            var start = d.RunAsync("start", "race");
            await Task.Delay(rng.Next(0, 50));
            var undefine = await d.RunAsync("undefine", "race");
            var started = await start;
            Assert.True(undefine.ExitCode == 0, undefine.ToString());
            // Whichever came first, what runs is a domain the daemon lists (transient now) and destroy ends it.
            var list = await d.OkAsync("list", "--all", "--name");
            if (started.ExitCode == 0 && list.Contains("race"))
            {
                await d.OkAsync("destroy", "race");
            }
            Assert.DoesNotContain("race", await d.OkAsync("list", "--all", "--name"));
            Assert.Empty(d.QemusOnHost());
        }
    }

    [Fact]
    public async Task A_running_guest_whose_status_file_is_truncated_is_adopted_again_and_never_started_twice()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("lost"));
        await d.OkAsync("start", "lost");
        var pid = d.QemuPids()["lost"];
        await d.KillAsync();
        var status = Path.Combine(d.RunDir, "qemu", "lost.xml");
        var text = await File.ReadAllTextAsync(status);
        await File.WriteAllTextAsync(status, text[..(text.Length / 2)]);
        await d.LaunchAsync();

        Assert.Contains($"The status file {status} is unreadable", d.Log);
        Assert.Contains($"it was set aside as {status}.corrupt", d.Log);
        Assert.True(File.Exists(status + ".corrupt"));
        Assert.StartsWith("running", await d.StateAsync("lost"));
        Assert.Contains($"Adopted 'lost' (pid {pid}) by its pid file", d.Log);
        var start = await d.FailAsync("start", "lost");
        Assert.Contains("already running", start);
        Assert.Equal([pid], d.QemusOnHost());
        // It is managed again: its monitor answers, destroy ends it.
        Assert.Equal("VM status: running", (await d.OkAsync("qemu-monitor-command", "lost", "--hmp", "info status")).Trim());
        await d.OkAsync("destroy", "lost");
        Assert.Empty(d.QemusOnHost());
        Assert.Equal("shut off (destroyed)", await d.StateAsync("lost"));
    }

    [Fact]
    public async Task A_qemu_the_daemon_never_recorded_is_found_by_its_pid_file_and_a_second_start_is_refused()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("stray"));
        await d.OkAsync("start", "stray");
        var pid = d.QemuPids()["stray"];
        // As a daemon killed between spawning QEMU and recording it leaves things: no status file.
        await d.KillAsync();
        File.Delete(Path.Combine(d.RunDir, "qemu", "stray.xml"));
        await d.LaunchAsync();
        Assert.Contains($"A QEMU of 'stray' (pid {pid}) runs with no status file", d.Log);
        for (int i = 0; i < 100 && TestDaemon.Alive(pid); i++) await Task.Delay(50);
        Assert.False(TestDaemon.Alive(pid), "the half-started QEMU must be ended");
        Assert.Equal("shut off", (await d.StateAsync("stray")).Split(" (")[0]);
        await d.OkAsync("start", "stray");
        Assert.Single(d.QemusOnHost());
        await d.OkAsync("destroy", "stray");
    }

    [Fact]
    public async Task A_truncated_definition_of_a_running_guest_is_set_aside_and_rebuilt_from_the_running_one()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("halfdef"));
        await d.DefineAsync(d.GuestXml("brokendef"));
        await d.DefineAsync(d.GuestXml("fine"));
        await d.OkAsync("start", "halfdef");
        await d.KillAsync();
        foreach (var name in new[] { "halfdef", "brokendef" })
        {
            var file = Path.Combine(d.ConfigDir, "qemu", name + ".xml");
            var text = await File.ReadAllTextAsync(file);
            await File.WriteAllTextAsync(file, text[..(text.Length / 2)]);
        }
        await d.LaunchAsync();
        // Named in the log in plain words (no .NET resource keys), set aside, the rest loads.
        var bad = Path.Combine(d.ConfigDir, "qemu", "brokendef.xml");
        Assert.Contains($"The definition {bad} is unreadable (", d.Log);
        Assert.DoesNotContain("Xml_", d.Log);
        Assert.True(File.Exists(bad + ".corrupt"));
        Assert.DoesNotContain("brokendef", await d.OkAsync("list", "--all", "--name"));
        Assert.Contains("fine", await d.OkAsync("list", "--all", "--name"));
        // The running guest keeps its definition: persistent still, and listed after it stops.
        Assert.Contains("Domain 'halfdef': its definition was rebuilt from the running guest's", d.Log);
        Assert.Matches(@"Persistent:\s+yes", await d.OkAsync("dominfo", "halfdef"));
        await d.OkAsync("destroy", "halfdef");
        Assert.Equal("shut off (destroyed)", await d.StateAsync("halfdef"));
        await d.KillAsync();
        await d.LaunchAsync();
        Assert.Contains("halfdef", await d.OkAsync("list", "--all", "--name"));
    }

    [Fact]
    public async Task A_stopped_qemu_gets_clear_errors_at_once_is_destroyed_at_once_and_survives_a_daemon_restart()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("frozen"));
        await d.OkAsync("start", "frozen");
        var pid = d.QemuPids()["frozen"];
        ProcessWatchSignal(pid, 19); // SIGSTOP
        try
        {
            var sw = Stopwatch.StartNew();
            var suspend = await d.RunAsync("suspend", "frozen");
            Assert.NotEqual(0, suspend.ExitCode);
            Assert.Contains($"The QEMU of 'frozen' (pid {pid}) is stopped (SIGSTOP or a debugger) and cannot answer its monitor; continue it (kill -CONT {pid}) or destroy the domain.", suspend.Stderr);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"suspend took {sw.ElapsedMilliseconds} ms to answer");
            // Nothing was sent: continued, the guest runs on (the refused suspend does not happen later).
            ProcessWatchSignal(pid, 18);
            await Task.Delay(500);
            Assert.Equal("running (booted)", await d.StateAsync("frozen"));

            // A daemon restart with a stopped guest: the API answers at once, the guest is listed running.
            ProcessWatchSignal(pid, 19);
            await d.KillAsync();
            sw.Restart();
            await d.LaunchAsync();
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"the daemon took {sw.ElapsedMilliseconds} ms to answer");
            Assert.StartsWith("running", await d.StateAsync("frozen"));
            Assert.Contains("already running", await d.FailAsync("start", "frozen"));
            Assert.Equal([pid], d.QemusOnHost());
            // Continued, its monitor is taken back.
            ProcessWatchSignal(pid, 18);
            var deadline = Stopwatch.StartNew();
            CliResult info;
            do
            {
                await Task.Delay(200);
                info = await d.RunAsync("qemu-monitor-command", "frozen", "--hmp", "info status");
            } while (info.ExitCode != 0 && deadline.Elapsed < TimeSpan.FromSeconds(20));
            Assert.Equal("VM status: running", info.Stdout.Trim());

            // Destroy of a stopped QEMU ends it, with SIGTERM's grace (SIGCONT lets it act on it).
            ProcessWatchSignal(pid, 19);
            sw.Restart();
            await d.OkAsync("destroy", "frozen");
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"destroy took {sw.ElapsedMilliseconds} ms");
            Assert.Equal("shut off (destroyed)", await d.StateAsync("frozen"));
            Assert.Empty(d.QemusOnHost());
        }
        finally
        {
            ProcessWatchSignal(pid, 18);
        }
    }

    [Fact]
    public async Task Qemu_killed_while_shutdown_waits_is_an_error_not_a_shutdown()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // No ACPI: the power button does nothing, so shutdown waits.
        await d.DefineAsync(d.GuestXml("deaf").Replace("<features><acpi/><apic/></features>", "<features><apic/></features>"));
        await d.OkAsync("start", "deaf");
        await d.WaitForSerialAsync("deaf", "VIREO-GUEST-READY");
        var pid = d.QemuPids()["deaf"];
        var shutdown = d.RunAsync("shutdown", "deaf", "--timeout", "30");
        await Task.Delay(1000);
        Process.GetProcessById(pid).Kill();
        var r = await shutdown;
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("Domain 'deaf' did not shut down: it stopped while shutting down, as QEMU ended unexpectedly (crashed).", r.Stderr);
        Assert.DoesNotContain("has been shut down", r.Stdout);
        Assert.Equal("shut off (crashed)", await d.StateAsync("deaf"));
    }

    [Fact]
    public async Task A_detach_the_guest_does_not_answer_in_time_is_a_standing_request_that_finishes_when_it_does()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("slow"));
        await d.OkAsync("start", "slow");
        await d.WaitForSerialAsync("slow", "VIREO-GUEST-READY");
        var img = Path.Combine(d.Root, "extra.raw");
        await using (var f = File.Create(img)) f.SetLength(1 << 20);
        await d.OkAsync("attach-disk", "slow", img, "vdb", "--live");
        // A paused guest cannot take the ACPI unplug request: the detach is asked, not done
        // (crash-consistency run: a 504 came from a guest still booting).
        await d.OkAsync("suspend", "slow");
        var events = Task.Run(() => d.RunAsync("event", "--domain", "slow", "--event", "device-removed", "--timeout", "60"));
        var r = await d.RunAsync("detach-disk", "slow", "vdb", "--live");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.StartsWith("Disk detach requested: the guest has not released it yet;", r.Stdout);
        Assert.Contains("vdb", await d.OkAsync("domblklist", "slow"));
        // Asked again: still a standing request, not an error.
        Assert.StartsWith("Disk detach requested", await d.OkAsync("detach-disk", "slow", "vdb", "--live"));
        await d.OkAsync("resume", "slow");
        var sw = Stopwatch.StartNew();
        while ((await d.OkAsync("domblklist", "slow")).Contains("vdb") && sw.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(100);
        Assert.DoesNotContain("vdb", await d.OkAsync("domblklist", "slow"));
        Assert.Contains("event 'device-removed' for domain 'slow': virtio-disk1", (await events).Stdout);
        // The node went with it: the same target can be attached again.
        await d.OkAsync("attach-disk", "slow", img, "vdb", "--live");

        // The guest lets go while no daemon listens (killed after asking): the next daemon finds
        // the disk gone from QEMU and takes it out of the running definition as it adopts the guest.
        await d.OkAsync("suspend", "slow");
        Assert.StartsWith("Disk detach requested", await d.OkAsync("detach-disk", "slow", "vdb", "--live"));
        await d.KillAsync();
        await Qmp(Path.Combine(d.RunDir, "qemu", "slow.monitor"), "cont");
        var deadline = Stopwatch.StartNew();
        // The guest takes the unplug request within a moment of running again.
        while ((await Qmp(Path.Combine(d.RunDir, "qemu", "slow.monitor"), "qom-list", """{"path":"/machine/peripheral"}""")).Contains("virtio-disk1") && deadline.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(200);
        await d.LaunchAsync();
        Assert.DoesNotContain("vdb", await d.OkAsync("domblklist", "slow"));
        Assert.Equal("running (unpaused)", await d.StateAsync("slow"));
        await d.OkAsync("attach-disk", "slow", img, "vdb", "--live");
        await d.OkAsync("destroy", "slow");
    }

    /// <summary>One QMP command on a guest's monitor socket while no daemon holds it; the reply's text.</summary>
    private static async Task<string> Qmp(string socket, string command, string? arguments = null)
    {
        using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socket));
        await using var stream = new System.Net.Sockets.NetworkStream(s);
        using var reader = new StreamReader(stream);
        await using var writer = new StreamWriter(stream) { AutoFlush = true };
        await reader.ReadLineAsync(); // greeting
        await writer.WriteLineAsync("""{"execute":"qmp_capabilities"}""");
        await reader.ReadLineAsync();
        await writer.WriteLineAsync($$"""{"execute":"{{command}}"{{(arguments is null ? "" : $",\"arguments\":{arguments}")}}}""");
        while (await reader.ReadLineAsync() is { } line)
            if (line.Contains("\"return\"") || line.Contains("\"error\"")) return line;
        throw new IOException("the monitor closed");
    }

    [Fact]
    public async Task Every_refused_request_says_why_in_a_problem_body()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("body"));
        using var api = d.Api();
        async Task<(HttpStatusCode Status, string Detail)> Send(HttpMethod method, string path, string? body, string type = "application/json")
        {
            using var rq = new HttpRequestMessage(method, path);
            if (body is not null) rq.Content = new StringContent(body, Encoding.UTF8, type);
            using var rs = await api.SendAsync(rq);
            var text = await rs.Content.ReadAsStringAsync();
            Assert.True(text.Length > 0, $"{method} {path}: an empty {(int)rs.StatusCode}");
            Assert.Equal("application/problem+json", rs.Content.Headers.ContentType?.MediaType);
            return (rs.StatusCode, JsonNode.Parse(text)!["detail"]!.GetValue<string>());
        }
        // Bodies missing what they need: 400 naming the fields (these were empty 500s).
        foreach (var (path, fields) in new[]
        {
            ("/v1/pools/default/volumes/copy", "'sourcePool', 'sourceVolume', 'name'"),
            ("/v1/import", "'source', 'pool', 'format'"),
            ("/v1/domains/body/disks/vda/copy", "'destination', 'format'"),
            ("/v1/install", "'options'"),
            ("/v1/install/location", "'name', 'source'"),
        })
        {
            var (status, detail) = await Send(HttpMethod.Post, path, "{}");
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains($"missing required properties including: {fields}", detail);
        }
        var bad = await Send(HttpMethod.Post, "/v1/import", "{\"source\":");
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Contains("from the request body as JSON", bad.Detail);
        var nul = await Send(HttpMethod.Get, "/v1/volumes?path=%00", null);
        Assert.Equal(HttpStatusCode.BadRequest, nul.Status);
        Assert.Contains("Null character in path", nul.Detail);
        var media = await Send(HttpMethod.Post, "/v1/import", "x", "text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, media.Status);
        Assert.Contains("application/json", media.Detail);
        var method = await Send(HttpMethod.Put, "/v1/domains", null);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, method.Status);
        var none = await Send(HttpMethod.Get, "/v1/no/such/thing", null);
        Assert.Equal(HttpStatusCode.NotFound, none.Status);
        Assert.Contains("No such API path: GET /v1/no/such/thing", none.Detail);
        // Nothing changed.
        Assert.Equal("body", (await d.OkAsync("list", "--all", "--name")).Trim());
    }

    [Fact]
    public async Task Sockets_are_roots_and_a_groups_whatever_the_umask_and_the_read_only_one_serves_any_user_only_reads()
    {
        // Debian's "users" group (gid 100) stands in for vireo: no group is made for the test.
        await using var d = await TestDaemon.StartAsync(fx, args: ["--socket-group", "users"], umask: "000");
        await d.DefineAsync(d.GuestXml("ro"));
        var rw = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;
        Assert.Equal(rw, File.GetUnixFileMode(d.Socket));
        Assert.Equal(rw, File.GetUnixFileMode(d.LibvirtSocket));
        Assert.Equal(rw | UnixFileMode.OtherRead | UnixFileMode.OtherWrite, File.GetUnixFileMode(d.SocketRo));
        Assert.Equal(rw | UnixFileMode.OtherRead | UnixFileMode.OtherWrite, File.GetUnixFileMode(d.LibvirtSocket + "-ro"));
        Assert.Equal(100, GroupOf(d.Socket));
        // Definitions, logs and run files are the daemon's alone under a umask of 000.
        foreach (var f in Directory.EnumerateFiles(d.ConfigDir, "*.xml", SearchOption.AllDirectories).Append(Path.Combine(d.RunDir, "vireod.pid")))
            Assert.True((File.GetUnixFileMode(f) & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite | UnixFileMode.OtherRead)) == 0, $"{f} is {File.GetUnixFileMode(f)}");

        // An unprivileged user (curl as nobody): not on the main socket, reads on the read-only one, changes nothing there.
        Task<(int Exit, string Out)> Curl(string socket, string method, string path, params string[] groups) =>
            Exec("/usr/bin/setpriv", ["--reuid", "nobody", "--regid", "nogroup", .. groups.Length > 0 ? new[] { "--groups", string.Join(',', groups) } : ["--clear-groups"],
                "/usr/bin/curl", "-sS", "-X", method, "-w", "\n%{http_code}", "--unix-socket", socket, "http://vireo" + path]);
        var refused = await Curl(d.Socket, "GET", "/v1/domains");
        Assert.True(refused.Exit == 7, refused.Out);   // curl's "could not connect" (EACCES on the 0660 socket)
        var member = await Curl(d.Socket, "GET", "/v1/domains", "users");
        Assert.True(member.Exit == 0 && member.Out.EndsWith("\n200") && member.Out.Contains("\"ro\""), member.Out);
        var list = await Curl(d.SocketRo, "GET", "/v1/domains");
        Assert.True(list.Exit == 0 && list.Out.EndsWith("\n200") && list.Out.Contains("\"ro\""), list.Out);
        Assert.EndsWith("\n200", (await Curl(d.SocketRo, "GET", "/v1/domains/ro/xml")).Out);
        foreach (var (method, path) in new[] { ("POST", "/v1/domains/ro/start"), ("DELETE", "/v1/domains/ro"), ("GET", "/v1/domains/ro/xml?securityInfo=true"),
                     ("GET", "/v1/domains/ro/console"), ("GET", "/v1/pools/default/volumes/x/data"), ("PUT", "/v1/web/password") })
        {
            var r = await Curl(d.SocketRo, method, path);
            Assert.True(r.Out.EndsWith("\n403") && r.Out.Contains("Access denied"), $"{method} {path}: {r.Out}");
        }
        // The CLI's -r goes to the read-only socket and says why a change is refused.
        Assert.Contains("ro", await d.OkAsync("-r", "list", "--all", "--name"));
        var start = await d.FailAsync("-r", "start", "ro");
        Assert.Contains("Access denied: POST /v1/domains/ro/start changes things, which the read-only socket does not allow", start);
        Assert.StartsWith("shut off", await d.StateAsync("ro"));
    }

    [Fact]
    public async Task Qemu_runs_under_its_seccomp_sandbox_unless_the_guest_opts_out_with_seclabel_none()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("boxed"));
        await d.DefineAsync(d.GuestXml("open", extra: "<seclabel type='none'/>"));
        await d.OkAsync("start", "boxed");
        await d.OkAsync("start", "open");
        await d.WaitForSerialAsync("boxed", "VIREO-GUEST-READY");
        static string Seccomp(int pid) => File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("Seccomp:"))[8..].Trim();
        var pids = d.QemuPids();
        Assert.Equal("2", Seccomp(pids["boxed"]));   // a filter (mode 2), as -sandbox on installs
        Assert.Contains("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny", File.ReadAllText($"/proc/{pids["boxed"]}/cmdline"));
        Assert.Equal("0", Seccomp(pids["open"]));
        // The sandboxed guest still does what a guest does: it booted, it answers its monitor, it stops cleanly.
        Assert.Contains("running", await d.OkAsync("qemu-monitor-command", "boxed", "--hmp", "info status"));
        await d.OkAsync("suspend", "boxed");
        await d.OkAsync("resume", "boxed");
        await d.OkAsync("destroy", "boxed");
        await d.OkAsync("destroy", "open");
        Assert.Empty(d.QemusOnHost());
    }

    [Fact]
    public async Task A_confined_guest_runs_as_vireo_qemu_opens_only_what_it_was_given_and_gives_it_back()
    {
        var user = Vireo.Host.QemuUser.Find("vireo-qemu");
        Assert.True(user is not null, "no vireo-qemu user: scripts/setup.sh makes it");
        await using var d = await TestDaemon.StartAsync(fx, args: ["--qemu-user", "auto"]);
        string Img(string name) => Path.Combine(d.Root, name);
        async Task QemuImg(params string[] args) => Assert.Equal(0, (await Exec("qemu-img", args)).Exit);
        await QemuImg("create", "-q", "-f", "qcow2", Img("base.qcow2"), "64M");
        await QemuImg("create", "-q", "-f", "qcow2", "-b", Img("base.qcow2"), "-F", "qcow2", Img("top.qcow2"));
        await QemuImg("create", "-q", "-f", "raw", Img("hot.img"), "8M");
        await File.WriteAllTextAsync(Img("private"), "not for guests");
        foreach (var f in new[] { "base.qcow2", "top.qcow2", "hot.img", "private" }) File.SetUnixFileMode(Img(f), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var disk = $"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{Img("top.qcow2")}'/><target dev='vda' bus='virtio'/></disk>";
        await d.DefineAsync(d.GuestXml("jail", devices: disk));
        await d.OkAsync("start", "jail");
        await d.WaitForSerialAsync("jail", "VIREO-GUEST-READY");
        var pid = d.QemuPids()["jail"];
        string Status(string key) => File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(key + ":"))[(key.Length + 1)..].Trim();
        Assert.StartsWith($"{user!.Uid}\t{user.Uid}\t{user.Uid}", Status("Uid"));
        Assert.Equal("0000000000000000", Status("CapEff"));
        Assert.Equal("0000000000000000", Status("CapBnd"));
        Assert.Equal("1", Status("NoNewPrivs"));
        Assert.Equal("2", Status("Seccomp"));
        // What the definition names is the guest's for the run, the backing file and the serial log included.
        foreach (var f in new[] { Img("top.qcow2"), Img("base.qcow2"), d.SerialLog("jail") })
            Assert.Equal(user.Uid, Owner(f));
        // What it does not name, QEMU cannot open, even when asked through its monitor.
        foreach (var f in new[] { Img("private"), "/etc/shadow" })
            Assert.Contains("Permission denied", await d.OkAsync("qemu-monitor-command", "jail",
                $"{{\"execute\":\"blockdev-add\",\"arguments\":{{\"driver\":\"file\",\"node-name\":\"n{f.Length}\",\"filename\":\"{f}\",\"read-only\":true}}}}"));
        // A disk attached while it runs is given to it too, and back to its owner once detached,
        // while the rest stays the guest's.
        await d.OkAsync("attach-disk", "jail", Img("hot.img"), "vdb", "--live");
        Assert.Equal(user.Uid, Owner(Img("hot.img")));
        await d.OkAsync("detach-disk", "jail", "vdb", "--live");
        Assert.Equal(0, Owner(Img("hot.img")));
        Assert.Equal(user.Uid, Owner(Img("top.qcow2")));
        await d.OkAsync("attach-disk", "jail", Img("hot.img"), "vdb", "--live");
        Assert.Equal(user.Uid, Owner(Img("hot.img")));
        // A daemon killed meanwhile: the next one adopts the guest and still hands everything back at its end.
        await d.KillAsync();
        await d.LaunchAsync();
        await d.OkAsync("destroy", "jail");
        foreach (var f in new[] { Img("top.qcow2"), Img("base.qcow2"), Img("hot.img"), d.SerialLog("jail") })
            Assert.Equal(0, Owner(f));
        Assert.False(File.Exists(Path.Combine(d.RunDir, "qemu", "jail.dac")));

        // What it cannot reach or be given is refused before anything changes, saying why and what to do.
        var hidden = Directory.CreateDirectory(Img("hidden")).FullName;
        File.SetUnixFileMode(hidden, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.Copy(Img("hot.img"), Path.Combine(hidden, "d.img"));
        await d.DefineAsync(d.GuestXml("far", devices: $"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{hidden}/d.img'/><target dev='vda' bus='virtio'/></disk>"));
        Assert.Contains($"vireo-qemu may not enter {hidden} (mode 700, owner 0:0), which holds {hidden}/d.img: give it o+x", await d.FailAsync("start", "far"));
        Assert.Equal(0, Owner(Path.Combine(hidden, "d.img")));
        // The host's own files are never given: a disk or a serial "file" naming one is refused, and it stays as it was.
        var sys = $"/etc/vireo-it-{Guid.NewGuid():N}";
        await File.WriteAllTextAsync(sys, "host secret\n");
        File.SetUnixFileMode(sys, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            await d.DefineAsync(d.GuestXml("grab", devices: $"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{sys}'/><target dev='vda' bus='virtio'/></disk>"));
            Assert.Contains($"{sys} is a system file (under /etc), which Vireo does not give to vireo-qemu", await d.FailAsync("start", "grab"));
            await d.DefineAsync(d.GuestXml("clobber", devices: $"<serial type='file'><source path='{sys}'/><target port='1'/></serial>"));
            Assert.Contains($"{sys} is a system file (under /etc)", await d.FailAsync("start", "clobber"));
            Assert.Equal(0, Owner(sys));
            Assert.Equal("host secret\n", await File.ReadAllTextAsync(sys));
        }
        finally { File.Delete(sys); }
        await d.DefineAsync(d.GuestXml("client", devices: $"<serial type='unix'><source mode='connect' path='{Img("other.sock")}'/><target port='1'/></serial>"));
        Assert.Contains("a unix chardev that connects to another program's socket, which Vireo does not give to the unprivileged QEMU user 'vireo-qemu' yet; add <seclabel type='none'/>", await d.FailAsync("start", "client"));
        // swtpm stays root's; the confined QEMU is given its socket.
        await d.DefineAsync(d.GuestXml("tpm", devices: "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>"));
        await d.OkAsync("start", "tpm");
        Assert.StartsWith($"{user.Uid}\t", File.ReadLines($"/proc/{d.QemuPids()["tpm"]}/status").First(l => l.StartsWith("Uid:"))[4..].Trim());
        await d.OkAsync("destroy", "tpm");
        // And a guest that opts out runs as root, as before.
        await d.DefineAsync(d.GuestXml("free", extra: "<seclabel type='none'/>"));
        await d.OkAsync("start", "free");
        Assert.StartsWith("0\t", File.ReadLines($"/proc/{d.QemuPids()["free"]}/status").First(l => l.StartsWith("Uid:"))[4..].Trim());
        await d.OkAsync("destroy", "free");
        Assert.Empty(d.QemusOnHost());
    }

    [Fact]
    public async Task A_start_that_fails_at_its_last_step_undoes_every_step_before_it()
    {
        // Confined (files given to vireo-qemu), a TPM (swtpm started), an agent channel (a socket
        // made), a serial log (a file made for QEMU): then QEMU refuses the CPU model.
        await using var d = await TestDaemon.StartAsync(fx, args: ["--qemu-user", "auto"]);
        var img = Path.Combine(d.Root, "late.img");
        Assert.Equal(0, (await Exec("qemu-img", "create", "-q", "-f", "raw", img, "8M")).Exit);
        File.SetUnixFileMode(img, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var devices = $"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{img}'/><target dev='vdb' bus='virtio'/></disk>" +
            "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>" +
            "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>";
        await d.DefineAsync(d.GuestXml("late", devices: devices, extra: "<cpu mode='custom'><model>no-such-cpu</model></cpu>"));
        Assert.Contains("no-such-cpu", await d.FailAsync("start", "late"));
        Assert.Equal("shut off (unknown)", await d.StateAsync("late"));
        Assert.Equal(0, Owner(img));
        Assert.Equal(0, Owner(d.SerialLog("late")));
        Assert.Empty(Procs.ChildProcesses(d.Pid, "swtpm"));
        Assert.Empty(d.QemusOnHost());
        var qemuDir = Path.Combine(d.RunDir, "qemu");
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(qemuDir, "late*"), f => !f.EndsWith(".log", StringComparison.Ordinal));
        Assert.False(Directory.Exists(Path.Combine(qemuDir, "channel", "late")), "channel sockets left behind");
        // Nothing left in the way: the same domain with a CPU QEMU knows starts, confined.
        await d.DefineAsync(d.GuestXml("late", devices: devices));
        await d.OkAsync("start", "late");
        await d.WaitForSerialAsync("late", "VIREO-GUEST-READY");
        Assert.Single(Procs.ChildProcesses(d.Pid, "swtpm"));
        await d.OkAsync("destroy", "late");
        Assert.Equal(0, Owner(img));
    }

    private static int Owner(string path) => (int)Vireo.Host.FileOwner.Of(path).Uid;

    private static async Task<CliResult> Run(string program, params string[] args)
    {
        var (code, output, errors) = await NetNs.Run(program, args, check: false);
        return new CliResult(code, output, errors);
    }

    /// <summary>A program's exit code and its output and errors together.</summary>
    private static async Task<(int Exit, string Out)> Exec(string program, params string[] args)
    {
        var r = await Run(program, args);
        return (r.ExitCode, r.Stdout + r.Stderr);
    }

    [Fact]
    public async Task A_socket_group_that_does_not_exist_stops_the_daemon_with_a_message()
    {
        var dir = Directory.CreateTempSubdirectory("vireo-it-").FullName;
        try
        {
            var (exit, err) = await Exec(fx.Binary, "daemon", "--config-dir", dir + "/etc", "--run-dir", dir + "/run", "--data-dir", dir + "/data", "--web", "none",
                "--libvirt-listen", "none", "--libvirt-listen-ro", "none", "--socket-group", "no-such-group-15");
            Assert.Equal(1, exit);
            Assert.Contains("--socket-group 'no-such-group-15' is not a group on this host", err);
            Assert.False(File.Exists(dir + "/run/vireo.sock"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Remote_access_over_tls_needs_a_client_certificate_the_ca_signed()
    {
        var pki = Directory.CreateTempSubdirectory("vireo-tls-").FullName;
        try
        {
            Task<CliResult> Vireo(params string[] args) => Run(fx.Binary, args);
            var made = await Vireo("tls-init", "--dir", pki + "/ca", "--host", "127.0.0.1", "--host", "localhost");
            Assert.True(made.ExitCode == 0, made.ToString());
            foreach (var key in new[] { "cakey.pem", "serverkey.pem", "clientkey.pem" })
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(pki, "ca", key)));
            var caBefore = await File.ReadAllTextAsync(Path.Combine(pki, "ca", "cacert.pem"));
            var again = await Vireo("tls-init", "--dir", pki + "/ca", "--host", "127.0.0.1");
            Assert.Equal(1, again.ExitCode);
            Assert.Contains("already exist", again.Stderr);
            Assert.Equal(caBefore, await File.ReadAllTextAsync(Path.Combine(pki, "ca", "cacert.pem")));
            Assert.Equal(0, (await Vireo("tls-init", "--dir", pki + "/other", "--host", "127.0.0.1")).ExitCode);
            // A client directory with the right CA but another CA's client certificate.
            Directory.CreateDirectory(pki + "/stranger");
            File.Copy(pki + "/ca/cacert.pem", pki + "/stranger/cacert.pem");
            File.Copy(pki + "/other/clientcert.pem", pki + "/stranger/clientcert.pem");
            File.Copy(pki + "/other/clientkey.pem", pki + "/stranger/clientkey.pem");

            int port = Net.FreePort(), webPort = Net.FreePort();
            await using var d = await TestDaemon.StartAsync(fx, web: $"tls:127.0.0.1:{webPort}", args: ["--listen", $"tls:127.0.0.1:{port}", "--tls-dir", pki + "/ca"]);
            var remote = $"tls://127.0.0.1:{port}";
            await File.WriteAllTextAsync(pki + "/r.xml", d.GuestXml("remote"));
            Assert.Contains("defined", (await d.OkAsync("-c", remote, "--tls-dir", pki + "/ca", "define", pki + "/r.xml")));
            Assert.Equal("remote", (await d.OkAsync("-c", $"tls://localhost:{port}", "--tls-dir", pki + "/ca", "list", "--all", "--name")).Trim());
            Assert.Equal("remote", (await d.OkAsync("list", "--all", "--name")).Trim());   // the unix socket still serves

            var strangerCli = await d.FailAsync("-c", remote, "--tls-dir", pki + "/stranger", "list");
            Assert.Contains("refused the TLS handshake", strangerCli);
            var wrongCa = await d.FailAsync("-c", remote, "--tls-dir", pki + "/other", "list");
            Assert.Contains("is not trusted: its certificate (CN=127.0.0.1) is not signed by this CA", wrongCa);

            Task<(int Exit, string Out)> Curl(params string[] args) =>
                Exec("/usr/bin/curl", ["-sS", "--http1.1", "-w", "\n%{http_code}", "--cacert", pki + "/ca/cacert.pem", .. args]);
            var api = $"https://127.0.0.1:{port}/v1/domains";
            var anonymous = await Curl(api);
            Assert.True(anonymous.Exit != 0 && !anonymous.Out.Contains("remote"), anonymous.Out);
            var other = await Curl("--cert", pki + "/other/clientcert.pem", "--key", pki + "/other/clientkey.pem", api);
            Assert.True(other.Exit != 0 && !other.Out.Contains("remote"), other.Out);
            var signed = await Curl("--cert", pki + "/ca/clientcert.pem", "--key", pki + "/ca/clientkey.pem", api);
            Assert.True(signed.Exit == 0 && signed.Out.EndsWith("\n200") && signed.Out.Contains("\"remote\""), signed.Out);

            // The web console serves HTTPS itself with the same server certificate, and says to keep to it.
            var web = await Curl("-D", "-", $"https://127.0.0.1:{webPort}/login");
            Assert.True(web.Exit == 0 && web.Out.EndsWith("\n200"), web.Out);
            Assert.Contains("strict-transport-security: max-age=31536000", web.Out.ToLowerInvariant());

            // A TLS listener without its certificates: the daemon says what to make, and does not start.
            var bad = await Run(fx.Binary, "daemon", "--config-dir", pki + "/etc", "--run-dir", pki + "/run", "--data-dir", pki + "/data", "--web", "none",
                "--libvirt-listen", "none", "--libvirt-listen-ro", "none", "--listen", $"tls:127.0.0.1:{Net.FreePort()}", "--tls-dir", pki + "/none");
            var err = bad.Stderr;
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains($"{pki}/none/servercert.pem does not exist; make the certificates with 'vireo tls-init --dir {pki}/none --host NAME'", err);
        }
        finally { Directory.Delete(pki, recursive: true); }
    }

    private static int GroupOf(string path) => (int)Vireo.Host.FileOwner.Of(path).Gid;

    private static void ProcessWatchSignal(int pid, int signal) => Vireo.Host.ProcessWatch.Signal(pid, signal);
}
