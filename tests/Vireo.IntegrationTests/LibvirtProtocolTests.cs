using System.Diagnostics;

namespace Vireo.IntegrationTests;

/// <summary>
/// Debian's own virsh (libvirt-clients 9.0, unchanged) driving Vireo over libvirt's remote
/// protocol on the daemon's socket: the same output and exit codes as against libvirtd.
/// </summary>
[Collection("vireo")]
public sealed class LibvirtProtocolTests(VireoFixture fx)
{
    private static async Task<CliResult> Virsh(string uri, params string[] args)
    {
        var psi = new ProcessStartInfo("virsh") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-c", uri }.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(cts.Token);
        return new CliResult(p.ExitCode, await stdout, await stderr);
    }

    private static async Task<string> Ok(string uri, params string[] args)
    {
        var r = await Virsh(uri, args);
        Assert.True(r.ExitCode == 0, $"virsh {string.Join(' ', args)}: {r}");
        return r.Stdout;
    }

    [Fact]
    public async Task Virsh_lists_defines_starts_inspects_and_undefines_through_libvirts_protocol()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var uri = d.LibvirtUri;
        Assert.Equal(" Id   Name   State\n--------------------\n\n", await Ok(uri, "list", "--all"));

        // virsh event: lifecycle and reboot events pushed over the protocol as Vireo's engine has them.
        var evPsi = new ProcessStartInfo("virsh") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-c", uri, "event", "--all", "--loop", "--timeout", "300" }) evPsi.ArgumentList.Add(arg);
        using var events = Process.Start(evPsi)!;
        var eventsOut = events.StandardOutput.ReadToEndAsync();
        await Task.Delay(1500); // virsh registers its callbacks first
        var xml = Path.Combine(d.Root, "lv.xml");
        await File.WriteAllTextAsync(xml, d.GuestXml("lv"));
        Assert.Equal($"Domain 'lv' defined from {xml}\n\n", await Ok(uri, "define", xml));
        // What Vireo's own CLI sees, libvirt's sees.
        Assert.Contains(" -    lv     shut off", await Ok(uri, "list", "--all"));
        var uuid = (await d.OkAsync("domuuid", "lv")).Trim();
        var info = await Ok(uri, "dominfo", "lv");
        Assert.Contains($"UUID:           {uuid}", info);
        Assert.Contains("State:          shut off", info);
        Assert.Contains("Max memory:     131072 KiB", info);
        Assert.Contains("Persistent:     yes", info);
        Assert.Equal("shut off (unknown)\n\n", await Ok(uri, "domstate", "lv", "--reason"));

        Assert.Equal("Domain 'lv' started\n\n", await Ok(uri, "start", "lv"));
        await d.WaitForSerialAsync("lv", "VIREO-GUEST-READY");
        Assert.Equal("running (booted)\n\n", await Ok(uri, "domstate", "lv", "--reason"));
        Assert.Matches(@" 1    lv     running", await Ok(uri, "list"));
        Assert.Equal("running (booted)", await d.StateAsync("lv"));
        Assert.Contains("<domain type='qemu' id='1'>", await Ok(uri, "dumpxml", "lv"));
        Assert.Equal((await d.OkAsync("dumpxml", "lv", "--inactive")).TrimEnd(), (await Ok(uri, "dumpxml", "lv", "--inactive")).TrimEnd());
        // The QEMU program: QMP and HMP through the guest's monitor.
        Assert.Contains("\"status\":\"running\"", await Ok(uri, "qemu-monitor-command", "lv", "{\"execute\":\"query-status\"}"));
        Assert.Contains("VM status: running", await Ok(uri, "qemu-monitor-command", "lv", "--hmp", "info status"));
        Assert.Equal("Domain 'lv' suspended\n\n", await Ok(uri, "suspend", "lv"));
        Assert.Equal("paused (user)\n\n", await Ok(uri, "domstate", "lv", "--reason"));
        await Ok(uri, "resume", "lv");
        Assert.Equal("Domain 'lv' destroyed\n\n", await Ok(uri, "destroy", "lv"));
        Assert.Equal("shut off (destroyed)", await d.StateAsync("lv"));
        await Task.Delay(500);
        using (var intr = Process.Start("kill", ["-INT", events.Id.ToString()])) await intr.WaitForExitAsync(); // Ctrl-C: virsh ends its event loop
        await events.WaitForExitAsync();
        var seen = await eventsOut;
        foreach (var line in new[] { "Defined Added", "Started Booted", "Suspended Paused", "Resumed Unpaused", "Stopped Destroyed" })
            Assert.Contains($"event 'lifecycle' for domain 'lv': {line}", seen);

        // The read-only socket answers questions and refuses changes, as libvirt-sock-ro does.
        var ro = $"qemu+unix:///system?socket={d.LibvirtSocket}-ro";
        Assert.Contains(" -    lv     shut off", await Ok(ro, "-r", "list", "--all"));
        var refused = await Virsh(ro, "-r", "start", "lv");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("operation forbidden: read only access prevents", refused.Stderr);

        // Errors as libvirt's: the domain that is not there, a definition Vireo refuses.
        var missing = await Virsh(uri, "dominfo", "nosuch");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("error: failed to get domain 'nosuch'", missing.Stderr);
        var bad = Path.Combine(d.Root, "bad.xml");
        await File.WriteAllTextAsync(bad, "<domain type='qemu'><name>bad</name><memory>0</memory></domain>");
        var rejected = await Virsh(uri, "define", bad);
        Assert.Equal(1, rejected.ExitCode);
        Assert.Contains("memory", rejected.Stderr);

        Assert.Contains("Running hypervisor: QEMU", await Ok(uri, "version"));
        Assert.Contains("CPU(s):", await Ok(uri, "nodeinfo"));
        Assert.Equal("Domain 'lv' has been undefined\n\n", await Ok(uri, "undefine", "lv"));
        Assert.DoesNotContain("lv", await d.OkAsync("list", "--all", "--name"));
    }

    [Fact]
    public async Task Virsh_sees_networks_storage_pools_and_volumes()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var uri = d.LibvirtUri;
        var net = Path.Combine(d.Root, "net.xml");
        await File.WriteAllTextAsync(net, "<network><name>lvnet</name><bridge name='vlv0'/><forward mode='nat'/><ip address='192.168.150.1' netmask='255.255.255.0'/></network>");
        Assert.Equal($"Network lvnet defined from {net}\n\n", await Ok(uri, "net-define", net));
        Assert.Matches(@" lvnet +inactive +no +yes", await Ok(uri, "net-list", "--all"));
        var info = await Ok(uri, "net-info", "lvnet");
        Assert.Contains("Bridge:         vlv0", info);
        Assert.Contains($"UUID:           {System.Text.RegularExpressions.Regex.Match(await d.OkAsync("net-dumpxml", "lvnet"), "<uuid>(.*)</uuid>").Groups[1].Value}", info);
        Assert.Equal((await d.OkAsync("net-dumpxml", "lvnet")).TrimEnd(), (await Ok(uri, "net-dumpxml", "lvnet")).TrimEnd());
        await Ok(uri, "net-undefine", "lvnet");
        Assert.Contains("Network not found", (await Virsh(uri, "net-info", "lvnet")).Stderr);

        await d.OkAsync("vol-create-as", "default", "t.qcow2", "10M", "--format", "qcow2");
        Assert.Matches(@" default +active +yes", await Ok(uri, "pool-list", "--all"));
        Assert.Contains("State:          running", await Ok(uri, "pool-info", "default"));
        Assert.Contains($" t.qcow2   {Path.Combine(d.Images, "t.qcow2")}", await Ok(uri, "vol-list", "default"));
        Assert.Contains("Capacity:       10.00 MiB", await Ok(uri, "vol-info", "t.qcow2", "--pool", "default"));
        Assert.Contains("<format type='qcow2'/>", await Ok(uri, "vol-dumpxml", "t.qcow2", "--pool", "default"));
        Assert.Equal(Path.Combine(d.Images, "t.qcow2") + "\n\n", await Ok(uri, "vol-path", "t.qcow2", "--pool", "default"));
    }

    [Fact]
    public async Task Virsh_streams_a_console_volumes_and_a_screenshot()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var uri = d.LibvirtUri;
        // Volumes through STREAM packets: 3 MiB up, all of it and a slice back down, byte for byte.
        Assert.Equal("Vol up.raw created\n\n", await Ok(uri, "vol-create-as", "default", "up.raw", "4M", "--format", "raw"));
        var data = new byte[3 << 20];
        new Random(7).NextBytes(data);
        var up = Path.Combine(d.Root, "up.bin");
        await File.WriteAllBytesAsync(up, data);
        await Ok(uri, "vol-upload", "up.raw", up, "--pool", "default");
        var down = Path.Combine(d.Root, "down.bin");
        await Ok(uri, "vol-download", "up.raw", down, "--pool", "default");
        var back = await File.ReadAllBytesAsync(down);
        Assert.Equal(4 << 20, back.Length);
        Assert.True(back.AsSpan(0, data.Length).SequenceEqual(data), "the volume holds what was uploaded");
        var part = Path.Combine(d.Root, "part.bin");
        await Ok(uri, "vol-download", "up.raw", part, "--pool", "default", "--offset", "1000", "--length", "5000");
        Assert.True((await File.ReadAllBytesAsync(part)).AsSpan().SequenceEqual(data.AsSpan(1000, 5000)));
        Assert.Contains("Vol up2.raw cloned from up.raw", await Ok(uri, "vol-clone", "up.raw", "up2.raw", "--pool", "default"));
        Assert.Contains("successfully changed to 8M", await Ok(uri, "vol-resize", "up.raw", "8M", "--pool", "default"));
        var shrink = await Virsh(uri, "vol-resize", "up.raw", "2M", "--pool", "default");
        Assert.Contains("can't shrink capacity below existing capacity unless shrink flag explicitly specified", shrink.Stderr);
        Assert.Contains("Capacity:       8.00 MiB", await Ok(uri, "vol-info", "up.raw", "--pool", "default"));
        await Ok(uri, "vol-delete", "up2.raw", "--pool", "default");
        Assert.False(File.Exists(Path.Combine(d.Images, "up2.raw")));

        await File.WriteAllTextAsync(Path.Combine(d.Root, "s.xml"), d.GuestXml("st", devices: "<video><model type='vga'/></video>"));
        await Ok(uri, "define", Path.Combine(d.Root, "s.xml"));
        await Ok(uri, "start", "st");
        await d.WaitForSerialAsync("st", "VIREO-GUEST-READY");
        // A screenshot: QEMU's screendump as PPM, streamed.
        var shot = Path.Combine(d.Root, "shot.ppm");
        Assert.Contains("with type of image/x-portable-pixmap", await Ok(uri, "screenshot", "st", shot));
        Assert.StartsWith("P6\n720 400\n255\n", System.Text.Encoding.ASCII.GetString(await File.ReadAllBytesAsync(shot), 0, 15));
        Assert.Empty(Directory.GetFiles(Path.Combine(d.RunDir, "qemu"), "*.ppm")); // the daemon's copy is gone

        // virsh console on a terminal (script gives it one): a command typed, the guest's answer, Ctrl-] to leave.
        var psi = new ProcessStartInfo("script") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-qfec", $"virsh -c '{uri}' console st", "/dev/null" }) psi.ArgumentList.Add(a);
        using var con = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        var reading = Task.Run(async () =>
        {
            var buf = new char[1024];
            int n;
            while ((n = await con.StandardOutput.ReadAsync(buf)) > 0) lock (output) output.Append(buf, 0, n);
        });
        async Task WaitFor(string text)
        {
            for (var i = 0; i < 300 && !output.ToString().Contains(text, StringComparison.Ordinal); i++) await Task.Delay(100);
            Assert.Contains(text, output.ToString());
        }
        await WaitFor("Escape character is ^]");
        await con.StandardInput.WriteAsync("echo con-$((6*7))-ok\r");
        await con.StandardInput.FlushAsync();
        await WaitFor("con-42-ok");
        await con.StandardInput.WriteAsync("\u001d");
        await con.StandardInput.FlushAsync();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await con.WaitForExitAsync(cts.Token);
        await reading;
        Assert.Equal(0, con.ExitCode);
        var ro = await Virsh($"qemu+unix:///system?socket={d.LibvirtSocket}-ro", "-r", "screenshot", "st", shot);
        Assert.Contains("read only access prevents", ro.Stderr); // guest data is not for the read-only socket
        await Ok(uri, "destroy", "st");
    }

    [Fact]
    public async Task Virt_install_reads_domcapabilities_and_creates_a_running_guest()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // Debian's virt-install (python-libvirt underneath), unchanged: it asks for the version,
        // capabilities and domcapabilities, then creates the guest and defines it.
        var printed = await Run("virt-install", "--connect", d.LibvirtUri, "--print-xml", "1", "--name", "vx", "--osinfo", "linux2022",
            "--memory", "1024", "--disk", "none", "--import", "--noautoconsole");
        Assert.Contains("<domain type=\"qemu\">", printed); // it read from the capabilities that KVM does not work here
        Assert.Contains("machine=\"q35\"", printed);

        var created = await Run("virt-install", "--connect", d.LibvirtUri, "--name", "vx2", "--osinfo", "linux2022", "--memory", "256",
            "--disk", "none", "--import", "--noautoconsole", "--graphics", "none", "--network", "none",
            "--boot", $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1");
        Assert.Contains("Domain creation completed.", created);
        Assert.StartsWith("running", await d.StateAsync("vx2"));
        Assert.Contains("http://libosinfo.org/linux/2022", await d.OkAsync("dumpxml", "vx2", "--inactive")); // libosinfo metadata kept
        await Ok(d.LibvirtUri, "destroy", "vx2");
        await Ok(d.LibvirtUri, "undefine", "vx2");
    }

    [Fact]
    public async Task Python_libvirt_gets_libvirts_error_codes_and_concurrent_calls_answered()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("py"));
        // python-libvirt (what virt-manager and virt-install are built on), with calls from
        // eight threads on one connection in flight at once: the replies may come in any order.
        var script = Path.Combine(d.Root, "t.py");
        await File.WriteAllTextAsync(script, $$"""
            import libvirt, threading, sys
            c = libvirt.open("{{d.LibvirtUri}}")
            try:
                c.lookupByName("nosuch")
                print("no error")
            except libvirt.libvirtError as e:
                print("code", e.get_error_code(), "domain", e.get_error_domain(), e.get_error_message())
            dom = c.lookupByName("py")
            print("state", dom.state(), "persistent", dom.isPersistent(), "active", dom.isActive())
            print("uuid", dom.UUIDString())
            results, errors = [], []
            def work():
                try:
                    for _ in range(25):
                        results.append(len(c.listAllDomains(0)) + dom.info()[1] // 131072)
                except Exception as e:
                    errors.append(repr(e))
            ts = [threading.Thread(target=work) for _ in range(8)]
            [t.start() for t in ts]; [t.join() for t in ts]
            print("calls", len(results), "all right", all(r == 2 for r in results), "errors", errors)
            try:
                dom.undefineFlags(0xff00)
                print("undefined with unknown flags")
            except libvirt.libvirtError as e:
                print("flags refused", e.get_error_code(), e.get_error_message())
            c.close()
            """);
        var output = await Run("/usr/bin/python3", script); // Debian's python, where python3-libvirt is
        Assert.Contains("code 42 domain 10 Domain not found: no domain with matching name 'nosuch'", output); // VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU
        Assert.Contains("state [5, 0] persistent 1 active 0", output);                                     // VIR_DOMAIN_SHUTOFF
        Assert.Contains($"uuid {(await d.OkAsync("domuuid", "py")).Trim()}", output);
        Assert.Contains("calls 200 all right True errors []", output);
        Assert.Contains("flags refused 8 invalid argument: unsupported flags (0xff00) in function virDomainUndefineFlags", output); // VIR_ERR_INVALID_ARG
        Assert.Contains("py", await d.OkAsync("list", "--all", "--name"));
    }

    private static async Task<string> Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        await p.WaitForExitAsync(cts.Token);
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)}: exit {p.ExitCode}\n{await stdout}\n{await stderr}");
        return await stdout + await stderr;
    }
}
