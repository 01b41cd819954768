using System.Diagnostics;

namespace Vireo.IntegrationTests;

[Collection("vireo")]
public sealed class ResilienceTests(VireoFixture fx)
{
    [Fact]
    public async Task Kill_9_of_the_daemon_loses_no_guest_and_no_definition()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("keep1"));
        await d.DefineAsync(d.GuestXml("keep2"));
        await d.DefineAsync(d.GuestXml("idle"));
        await d.OkAsync("start", "keep1");
        await d.OkAsync("start", "keep2");
        await d.WaitForSerialAsync("keep1", "VIREO-GUEST-READY");
        await d.OkAsync("suspend", "keep2");
        var before = d.QemuPids();
        var ids = (await d.OkAsync("domid", "keep1")).Trim();

        await d.KillAsync();
        Assert.All(before.Values, pid => Assert.True(TestDaemon.Alive(pid), $"QEMU {pid} died with the daemon"));
        await d.LaunchAsync();

        var list = await d.OkAsync("list", "--all");
        Assert.Matches($@" {ids} +keep1 +running", list);
        Assert.Matches(@" \d+ +keep2 +paused", list);
        Assert.Matches(@" - +idle +shut off", list);
        Assert.Equal(before, d.QemuPids());
        // Still controllable: monitor, resume, ACPI shutdown, and exits are still noticed.
        Assert.Equal("VM status: running", (await d.OkAsync("qemu-monitor-command", "keep1", "--hmp", "info status")).Trim());
        await d.OkAsync("resume", "keep2");
        Assert.Equal("running (unpaused)", await d.StateAsync("keep2"));
        await d.OkAsync("shutdown", "keep1");
        Assert.Equal("shut off (shutdown)", await d.StateAsync("keep1"));
        Process.GetProcessById(before["keep2"]).Kill(); // QEMU dies under an adopted guest
        await d.WaitForStateAsync("keep2", "shut off (crashed)", 10);
        // A new start after adoption gets a fresh id above the adopted ones.
        await d.OkAsync("start", "idle");
        Assert.True(int.Parse((await d.OkAsync("domid", "idle")).Trim()) > int.Parse(ids));
    }

    [Fact]
    public async Task Qemu_killed_from_outside_is_recorded_as_crashed_at_once()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("victim"));
        await d.OkAsync("start", "victim");
        var events = Task.Run(() => d.RunAsync("event", "--domain", "victim", "--event", "lifecycle", "--timeout", "20"));
        await Task.Delay(300);
        var pid = d.QemuPids()["victim"];
        var sw = Stopwatch.StartNew();
        Process.GetProcessById(pid).Kill();
        await d.WaitForStateAsync("victim", "shut off (crashed)", 10);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"the crash took {sw.ElapsedMilliseconds} ms to notice");
        Assert.False(File.Exists(Path.Combine(d.RunDir, "qemu", "victim.xml")));
        Assert.Contains("event 'lifecycle' for domain 'victim': Stopped Failed", (await events).Stdout);
        // And it starts again.
        await d.OkAsync("start", "victim");
        await d.OkAsync("destroy", "victim");
    }

    [Fact]
    public async Task Autostart_domains_start_with_the_daemon()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("auto"));
        await d.DefineAsync(d.GuestXml("manual"));
        Assert.Equal("Domain 'auto' marked as autostarted\n", await d.OkAsync("autostart", "auto"));
        Assert.Contains("Autostart:      enable", await d.OkAsync("dominfo", "auto"));
        Assert.Contains("auto", await d.OkAsync("list", "--all", "--autostart", "--name"));
        await d.KillAsync();
        await d.LaunchAsync();
        Assert.StartsWith("running", await d.StateAsync("auto"));
        Assert.StartsWith("shut off", await d.StateAsync("manual"));
        Assert.Equal("Domain 'auto' unmarked as autostarted\n", await d.OkAsync("autostart", "auto", "--disable"));
        await d.OkAsync("destroy", "auto");
    }

    [Fact]
    public async Task Undefining_a_running_domain_keeps_it_running_as_transient_across_restarts()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("tmp"));
        await d.OkAsync("start", "tmp");
        await d.OkAsync("undefine", "tmp");
        Assert.Contains("Persistent:     no", await d.OkAsync("dominfo", "tmp"));
        Assert.Contains("tmp", await d.OkAsync("list", "--transient", "--name"));
        // A transient guest is adopted again after a daemon crash, still transient.
        await d.KillAsync();
        await d.LaunchAsync();
        Assert.Contains("Persistent:     no", await d.OkAsync("dominfo", "tmp"));
        Assert.StartsWith("running", await d.StateAsync("tmp"));
        await d.OkAsync("destroy", "tmp");
        Assert.DoesNotContain("tmp", await d.OkAsync("list", "--all"));
    }

    [Fact]
    public async Task A_second_daemon_on_the_same_run_dir_is_refused()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var psi = new ProcessStartInfo(fx.Binary) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "daemon", "--config-dir", d.ConfigDir, "--run-dir", d.RunDir, "--data-dir", d.DataDir }) psi.ArgumentList.Add(a);
        using var second = Process.Start(psi)!;
        var err = await second.StandardError.ReadToEndAsync();
        await second.WaitForExitAsync();
        Assert.Equal(1, second.ExitCode);
        Assert.Equal($"error: another vireod (pid {d.Pid}) already runs on {d.RunDir}; stop it first, or give this one its own --run-dir.\n", err);
        await d.OkAsync("list"); // the first one still serves
    }

    [Fact]
    public async Task Restart_ends_half_started_guests_and_keeps_guests_whose_monitor_is_gone()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.KillAsync();
        // Two QEMUs as a crashed daemon could leave them: one caught mid-start (paused, -S), one
        // running whose monitor socket is gone.
        var qemuDir = Path.Combine(d.RunDir, "qemu");
        Process Qemu(string name) => Process.Start("/usr/bin/qemu-system-x86_64",
            ["-machine", "none", "-nodefaults", "-display", "none", "-S", "-name", name])!;
        using var half = Qemu("half");
        using var deaf = Qemu("deaf");
        await Task.Delay(300);
        string Status(Process p, string name, string reason) => $"""
            <domstatus state='running' reason='{reason}' pid='{p.Id}' starttime='{Vireo.Host.ProcessWatch.StartTime(p.Id)}' id='7' persistent='no'>
              <domain type='qemu'><name>{name}</name><uuid>{Guid.NewGuid()}</uuid><memory unit='KiB'>65536</memory><os><type>hvm</type></os></domain>
            </domstatus>
            """;
        await File.WriteAllTextAsync(Path.Combine(qemuDir, "half.xml"), Status(half, "half", "starting up"));
        await File.WriteAllTextAsync(Path.Combine(qemuDir, "deaf.xml"), Status(deaf, "deaf", "booted"));
        await d.LaunchAsync();

        await half.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain("half", await d.OkAsync("list", "--all"));
        Assert.False(File.Exists(Path.Combine(qemuDir, "half.xml")));

        Assert.False(deaf.HasExited, "a running guest must not be killed because its monitor is gone");
        Assert.Equal("running (unknown)", await d.StateAsync("deaf"));
        Assert.Contains("does not answer (it did not when the daemon restarted); it is taken back once QEMU answers, and 'vireo destroy deaf' works meanwhile", await d.FailAsync("suspend", "deaf"));
        await d.OkAsync("destroy", "deaf");
        await deaf.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain("deaf", await d.OkAsync("list", "--all"));
    }
}
