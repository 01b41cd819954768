using System.Diagnostics;

namespace Vireo.IntegrationTests;

/// <summary>
/// Debian's own virsh (libvirt-clients 9.0, unchanged) driving Vireo over libvirt's remote
/// protocol on the daemon's socket: the same output and exit codes as against libvirtd.
/// </summary>
[Collection("vireo")]
public sealed class LibvirtProtocolTests(VireoFixture fx)
{
    private static Task<CliResult> Virsh(string uri, params string[] args) => RunAny("virsh", ["-c", uri, .. args]);

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
        var events = await EventsAsync(uri, "event", "--all");
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
        // A confined guest, as libvirt's DAC driver shows one: virsh and Vireo's CLI alike.
        var qemuUser = Vireo.Host.QemuUser.Find("vireo-qemu")!;
        var label = $"Security label: +{qemuUser.Uid}:+{qemuUser.Gid} (enforcing)";
        var running = await Ok(uri, "dominfo", "lv");
        Assert.Contains("Security model: dac", running);
        Assert.Contains(label, running);
        Assert.Contains(label, await d.OkAsync("dominfo", "lv"));
        Assert.Contains("<domain type='qemu' id='1'>", await Ok(uri, "dumpxml", "lv"));
        Assert.Equal((await d.OkAsync("dumpxml", "lv", "--inactive")).TrimEnd(), (await Ok(uri, "dumpxml", "lv", "--inactive")).TrimEnd());
        // The QEMU program: QMP and HMP through the guest's monitor.
        Assert.Contains("\"status\":\"running\"", await Ok(uri, "qemu-monitor-command", "lv", "{\"execute\":\"query-status\"}"));
        Assert.Contains("VM status: running", await Ok(uri, "qemu-monitor-command", "lv", "--hmp", "info status"));
        Assert.Equal("Domain 'lv' suspended\n\n", await Ok(uri, "suspend", "lv"));
        Assert.Equal("paused (user)\n\n", await Ok(uri, "domstate", "lv", "--reason"));
        await Ok(uri, "resume", "lv");
        // shutdown: the guest sees the ACPI power button and powers off.
        Assert.Equal("Domain 'lv' is being shutdown\n\n", await Ok(uri, "shutdown", "lv"));
        await d.WaitForStateAsync("lv", "shut off (shutdown)");
        Assert.Contains("power button", await File.ReadAllTextAsync(d.SerialLog("lv")));
        await Ok(uri, "start", "lv");
        Assert.Equal("Domain 'lv' destroyed\n\n", await Ok(uri, "destroy", "lv"));
        Assert.Equal("shut off (destroyed)", await d.StateAsync("lv"));
        var seen = await StopEventsAsync(events);
        foreach (var line in new[] { "Defined Added", "Started Booted", "Suspended Paused", "Resumed Unpaused", "Stopped Shutdown", "Stopped Destroyed" })
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

    /// <summary>virsh event, net-event or pool-event running until <see cref="StopEventsAsync"/>; started once virsh has registered.</summary>
    private static async Task<(Process Process, Task<string> Output)> EventsAsync(string uri, params string[] args)
    {
        var psi = new ProcessStartInfo("virsh") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-c", uri }.Concat(args).Concat(["--loop", "--timeout", "300"])) psi.ArgumentList.Add(arg);
        var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        await Task.Delay(1500); // virsh registers its callbacks first
        return (p, output);
    }

    private static async Task<string> StopEventsAsync((Process Process, Task<string> Output) events)
    {
        await Task.Delay(500);
        using (var intr = Process.Start("kill", ["-INT", events.Process.Id.ToString()])) await intr.WaitForExitAsync(); // Ctrl-C: virsh ends its event loop
        await events.Process.WaitForExitAsync();
        events.Process.Dispose();
        return await events.Output;
    }

    [Fact]
    public async Task Virsh_sees_networks_storage_pools_and_volumes()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var uri = d.LibvirtUri;
        var netEvents = await EventsAsync(uri, "net-event", "--event", "lifecycle");
        var poolEvents = await EventsAsync(uri, "pool-event", "--event", "lifecycle");
        var refreshes = await EventsAsync(uri, "pool-event", "--event", "refresh", "--pool", "default");
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
        // The host's interfaces (read from /sys/class/net, as libvirt's udev backend does) and memory.
        Assert.Matches(@" lo +active +00:00:00:00:00:00", await Ok(uri, "iface-list", "--all"));
        Assert.Contains("<interface type='ethernet' name='lo'>", await Ok(uri, "iface-dumpxml", "lo"));
        Assert.Contains("Interface not found: no interface with matching name 'nosuch'", (await Virsh(uri, "iface-dumpxml", "nosuch")).Stderr);
        Assert.Matches(@"total  : +[1-9]\d+ KiB", await Ok(uri, "nodememstats"));

        // Network and pool events: callbacks with a filter, each message with its callback id.
        var dir = Path.Combine(d.Root, "p2");
        await Ok(uri, "pool-define-as", "p2", "dir", "--target", dir);
        await Ok(uri, "pool-build", "p2");
        await Ok(uri, "pool-start", "p2");
        await Ok(uri, "pool-refresh", "p2");
        await Ok(uri, "pool-refresh", "default");
        await Ok(uri, "pool-destroy", "p2");
        await Ok(uri, "pool-delete", "p2");
        await Ok(uri, "pool-undefine", "p2");
        Assert.Equal("event 'lifecycle' for network lvnet: Defined\nevent 'lifecycle' for network lvnet: Undefined\nevent loop interrupted\nevents received: 2\n\n", await StopEventsAsync(netEvents));
        Assert.Equal(string.Concat(new[] { "Defined", "Created", "Started", "Stopped", "Deleted", "Undefined" }.Select(e => $"event 'lifecycle' for storage pool p2: {e}\n")) +
            "event loop interrupted\nevents received: 6\n\n", await StopEventsAsync(poolEvents));
        Assert.Equal("event 'refresh' for storage pool default\nevent loop interrupted\nevents received: 1\n\n", await StopEventsAsync(refreshes)); // p2's refresh is filtered out
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
    public async Task Virsh_hot_plugs_devices_and_reads_a_running_guests_statistics()
    {
        await using var host = await NetNs.CreateAsync();
        await using var d = await TestDaemon.StartAsync(fx, host);
        var uri = d.LibvirtUri;
        var netXml = Path.Combine(d.Root, "net.xml");
        await File.WriteAllTextAsync(netXml, NetworkTests.NatXml());
        await Ok(uri, "net-define", netXml);
        await Ok(uri, "net-start", "default");
        // The guest reports a disk coming and going (its first virtio disk: the guest's kernel names
        // it vda, whatever the target says, as with libvirt), and takes a DHCP lease on its NIC.
        var script = "for i in $(seq 1 600); do [ -e /sys/block/vda ] && break; sleep 0.2; done; echo DISK-SEEN $(cat /sys/block/vda/size)\n" +
                     "for i in $(seq 1 600); do [ -e /sys/block/vda ] || break; sleep 0.2; done; echo DISK-GONE\n";
        var cdrom = "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>";
        await File.WriteAllTextAsync(Path.Combine(d.Root, "hp.xml"),
            NetworkTests.NetGuest(d, "hp", NetworkTests.Nic("network", "network='default'", "52:54:00:ab:02:01") + cdrom, script));
        await Ok(uri, "define", Path.Combine(d.Root, "hp.xml"));
        await Ok(uri, "start", "hp");
        await d.WaitForSerialAsync("hp", "VIREO-GUEST-READY");
        var events = await EventsAsync(uri, "event", "--all", "--domain", "hp");

        // attach-device / detach-device with a disk's XML: the guest sees it come and go.
        var image = Path.Combine(d.Root, "hot.qcow2");
        await Run("qemu-img", "create", "-q", "-f", "qcow2", image, "32M");
        var disk = Path.Combine(d.Root, "disk.xml");
        await File.WriteAllTextAsync(disk, $"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{image}'/><target dev='vdb' bus='virtio'/></disk>");
        Assert.Equal("Device attached successfully\n\n", await Ok(uri, "attach-device", "hp", disk, "--live"));
        await d.WaitForSerialAsync("hp", "VIREO-RUN: DISK-SEEN 65536");
        Assert.Contains($" vdb      {image}", await Ok(uri, "domblklist", "hp"));
        Assert.DoesNotContain("vdb", await d.OkAsync("domblklist", "hp", "--inactive"));
        var blk = await Ok(uri, "domblkstat", "hp", "vdb");
        Assert.Matches(@"vdb rd_req [1-9]\d*\n", blk); // the guest read its partition table
        Assert.Contains("vdb wr_bytes 0", blk);
        Assert.Contains("error: A <graphics> cannot be attached by Vireo; only <disk> and <interface> can",
            (await Virsh(uri, "attach-device", "hp", await Xml(d, "gr.xml", "<graphics type='vnc'/>"), "--live")).Stderr);
        Assert.Contains("Unsupported element <foo> in <disk>",
            (await Virsh(uri, "attach-device", "hp", await Xml(d, "bad.xml", "<disk type='file'><target dev='vdc'/><foo/></disk>"), "--live")).Stderr);
        Assert.Equal("Device detached successfully\n\n", await Ok(uri, "detach-device", "hp", disk, "--live"));
        await d.WaitForSerialAsync("hp", "VIREO-RUN: DISK-GONE");
        Assert.DoesNotContain("vdb", await d.OkAsync("domblklist", "hp"));
        // --config changes the definition only; Vireo's own CLI has the same verbs.
        Assert.Equal("Device attached successfully\n\n", await d.OkAsync("attach-device", "hp", disk, "--config"));
        Assert.Contains("vdb", await d.OkAsync("domblklist", "hp", "--inactive"));
        Assert.DoesNotContain("vdb", await d.OkAsync("domblklist", "hp"));
        Assert.Contains("A <graphics> cannot be attached by Vireo", await d.FailAsync("attach-device", "hp", await Xml(d, "gr2.xml", "<graphics type='vnc'/>"), "--config"));
        Assert.Equal("Device detached successfully\n\n", await d.OkAsync("detach-device", "hp", disk, "--config"));
        Assert.DoesNotContain("vdb", await d.OkAsync("domblklist", "hp", "--inactive"));
        // update-device: a medium into the cdrom.
        // (virt-install makes a pool of the ISO's directory, so it is one that holds no other pool.)
        var iso = Path.Combine(Directory.CreateDirectory(Path.Combine(d.Root, "isos")).FullName, "media.iso");
        await File.WriteAllBytesAsync(iso, new byte[1 << 20]);
        Assert.Equal("Device updated successfully\n\n", await Ok(uri, "update-device", "hp",
            await Xml(d, "cd.xml", $"<disk type='file' device='cdrom'><source file='{iso}'/><target dev='hdc' bus='ide'/><readonly/></disk>")));
        Assert.Contains($" hdc      {iso}", await Ok(uri, "domblklist", "hp"));
        var seen = await StopEventsAsync(events);
        Assert.Contains("event 'device-added' for domain 'hp': virtio-disk1\n", seen);
        Assert.Contains("event 'device-removed' for domain 'hp': virtio-disk1\n", seen);
        Assert.Contains("event 'tray-change' for domain 'hp' disk ide0-1-0: closed\n", seen); // the medium went in

        // Interface hot-plug from XML, and the NIC's counters as the guest sees them.
        var nic = await Xml(d, "nic.xml", NetworkTests.Nic("network", "network='default'", "52:54:00:ab:02:02"));
        await Ok(uri, "attach-device", "hp", nic, "--live");
        Assert.Contains("52:54:00:ab:02:02", await d.OkAsync("domiflist", "hp"));
        await Ok(uri, "detach-device", "hp", nic, "--live");
        Assert.DoesNotContain("52:54:00:ab:02:02", await d.OkAsync("domiflist", "hp"));
        string leases = "";
        for (var i = 0; i < 100 && !leases.Contains("52:54:00:ab:02:01"); i++) { await Task.Delay(200); leases = await Ok(uri, "net-dhcp-leases", "default"); }
        Assert.Matches(@"52:54:00:ab:02:01 +ipv4 +192\.168\.122\.1\d\d/24 +hp ", leases);
        var ifstat = await Ok(uri, "domifstat", "hp", "vnet0");
        var rx = long.Parse(System.Text.RegularExpressions.Regex.Match(ifstat, @"vnet0 rx_bytes (\d+)").Groups[1].Value);
        var tx = long.Parse(System.Text.RegularExpressions.Regex.Match(ifstat, @"vnet0 tx_bytes (\d+)").Groups[1].Value);
        Assert.True(rx > 300 && tx > 300, $"a DHCP exchange each way: {ifstat}");
        Assert.Matches(@"52:54:00:ab:02:01 rx_bytes [1-9]", await Ok(uri, "domifstat", "hp", "52:54:00:ab:02:01")); // by MAC too
        // net-update: a static host added live, seen in the network's XML.
        Assert.Equal("Updated network default live state\n", await Ok(uri, "net-update", "default", "add", "ip-dhcp-host",
            "<host mac='52:54:00:ab:02:09' name='fixed' ip='192.168.122.9'/>", "--live"));
        Assert.Contains("<host mac='52:54:00:ab:02:09' name='fixed' ip='192.168.122.9'/>", await Ok(uri, "net-dumpxml", "default"));

        // Memory and vCPUs of the running guest.
        var mem = await Ok(uri, "dommemstat", "hp");
        Assert.Contains("actual 131072\n", mem);
        Assert.Matches(@"rss [1-9]\d{4,}\n", mem);
        var vcpu = await Ok(uri, "vcpuinfo", "hp");
        Assert.Contains("VCPU:           0", vcpu);
        Assert.Contains("State:          running", vcpu);
        Assert.Matches(@"CPU time:       \d+\.\ds", vcpu);
        Assert.Contains($"CPU Affinity:   {new string('y', Environment.ProcessorCount)}", vcpu);
        await Ok(uri, "destroy", "hp");
    }

    [Fact]
    public async Task Virsh_saves_restores_and_keeps_a_snapshot_tree()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var uri = d.LibvirtUri;
        await File.WriteAllTextAsync(Path.Combine(d.Root, "sv.xml"), d.GuestXml("sv"));
        await Ok(uri, "define", Path.Combine(d.Root, "sv.xml"));
        await Ok(uri, "start", "sv");
        await d.WaitForSerialAsync("sv", "VIREO-GUEST-READY");
        var file = Path.Combine(d.Root, "sv.save");
        Assert.Equal($"\nDomain 'sv' saved to {file}\n\n", await Ok(uri, "save", "sv", file));
        Assert.Equal("shut off (saved)", await d.StateAsync("sv"));
        Assert.Equal($"Domain restored from {file}\n\n", await Ok(uri, "restore", file));
        Assert.Equal("running (restored)\n\n", await Ok(uri, "domstate", "sv", "--reason"));
        Assert.Contains($"Save file '{file}.gone' does not exist", (await Virsh(uri, "restore", file + ".gone")).Stderr);
        Assert.Equal("\nDomain 'sv' state saved by libvirt\n\n", await Ok(uri, "managedsave", "sv"));
        Assert.Contains("Managed save:   yes", await Ok(uri, "dominfo", "sv"));
        Assert.Contains(" sv ", await Ok(uri, "list", "--all", "--with-managed-save"));
        await Ok(uri, "start", "sv");
        Assert.Equal("running (restored)\n\n", await Ok(uri, "domstate", "sv", "--reason"));
        Assert.Contains("Managed save:   no", await Ok(uri, "dominfo", "sv"));
        await Ok(uri, "managedsave", "sv", "--paused");
        Assert.Equal("Removed managedsave image for domain 'sv'\n", await Ok(uri, "managedsave-remove", "sv"));
        Assert.Equal("Domain 'sv' started\n\n", await Ok(uri, "start", "sv"));
        Assert.Equal("running (booted)\n\n", await Ok(uri, "domstate", "sv", "--reason")); // booted afresh
        await Ok(uri, "destroy", "sv");

        // Snapshots of a qcow2-backed domain: a tree, its queries, revert and delete.
        await d.OkAsync("vol-create-as", "default", "sn.qcow2", "32M", "--format", "qcow2");
        await File.WriteAllTextAsync(Path.Combine(d.Root, "sn.xml"), d.GuestXml("sn",
            devices: $"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{Path.Combine(d.Images, "sn.qcow2")}'/><target dev='vda' bus='virtio'/></disk>"));
        await Ok(uri, "define", Path.Combine(d.Root, "sn.xml"));
        Assert.Equal("Domain snapshot s1 created\n", await Ok(uri, "snapshot-create-as", "sn", "s1", "--description", "the first"));
        await Ok(uri, "snapshot-create-as", "sn", "s2");
        await Ok(uri, "snapshot-revert", "sn", "s1");
        await Ok(uri, "snapshot-create-as", "sn", "s3"); // a second child of s1
        Assert.Equal("s1\ns2\ns3\n\n", await Ok(uri, "snapshot-list", "sn", "--name"));
        Assert.Equal("s1\n  |\n  +- s2\n  +- s3\n    \n\n", await Ok(uri, "snapshot-list", "sn", "--tree"));
        Assert.Equal("s1\n\n", await Ok(uri, "snapshot-list", "sn", "--roots", "--name"));
        Assert.Equal("s2\ns3\n\n", await Ok(uri, "snapshot-list", "sn", "--leaves", "--name"));
        Assert.Equal("s3\n", await Ok(uri, "snapshot-current", "sn", "--name"));
        Assert.Equal("s1\n", await Ok(uri, "snapshot-parent", "sn", "s3"));
        var info = await Ok(uri, "snapshot-info", "sn", "s1");
        Assert.Contains("Current:        no", info);
        Assert.Contains("Children:       2", info);
        Assert.Contains("Descendants:    2", info);
        Assert.Contains("<description>the first</description>", await Ok(uri, "snapshot-dumpxml", "sn", "s1"));
        Assert.Contains("no domain snapshot with matching name 'nosuch'", (await Virsh(uri, "snapshot-info", "sn", "nosuch")).Stderr);
        Assert.Equal("Domain snapshot s2 deleted\n\n", await Ok(uri, "snapshot-delete", "sn", "s2"));
        Assert.Equal((await d.OkAsync("snapshot-list", "sn", "--name")).Trim(), (await Ok(uri, "snapshot-list", "sn", "--name")).Trim());
        Assert.Contains("deleting a snapshot's children", (await Virsh(uri, "snapshot-delete", "sn", "s1", "--children")).Stderr);
    }

    [Fact]
    public async Task Virsh_copies_commits_and_resizes_a_running_guests_disk_and_reads_domstats()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var uri = d.LibvirtUri;
        var (bas, top) = (Path.Combine(d.Root, "base.qcow2"), Path.Combine(d.Root, "top.qcow2"));
        await Run("qemu-img", "create", "-q", "-f", "qcow2", bas, "32M");
        await Run("qemu-img", "create", "-q", "-f", "qcow2", "-b", bas, "-F", "qcow2", top);
        await File.WriteAllTextAsync(Path.Combine(d.Root, "bj.xml"), d.GuestXml("bj",
            devices: $"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{top}'/><target dev='vda' bus='virtio'/></disk>"));
        await Ok(uri, "define", Path.Combine(d.Root, "bj.xml"));
        await Ok(uri, "start", "bj");
        await d.WaitForSerialAsync("bj", "VIREO-GUEST-READY");

        Assert.StartsWith("Capacity:       33554432\nAllocation:     ", await Ok(uri, "domblkinfo", "bj", "vda"));
        Assert.Equal("Block device 'vda' is resized\n", await Ok(uri, "blockresize", "bj", "vda", "48M"));
        Assert.Contains("Capacity:       50331648", await Ok(uri, "domblkinfo", "bj", "vda"));
        // domstats: the groups virt-manager's graphs and virsh domstats read.
        var stats = await Ok(uri, "domstats", "bj");
        foreach (var line in new[] { "Domain: 'bj'", "  state.state=1", "  state.reason=1", "  balloon.maximum=131072", "  vcpu.current=1", "  vcpu.0.state=1",
                     "  block.count=1", "  block.0.name=vda", $"  block.0.path={top}", "  block.0.capacity=50331648" })
            Assert.Contains(line + "\n", stats);
        Assert.Matches(@"  cpu\.time=[1-9]\d+\n", stats);
        Assert.Matches(@"  block\.0\.rd\.reqs=[1-9]\d*\n", stats);
        Assert.Equal("Domain: 'bj'\n  state.state=1\n  state.reason=1\n\n", await Ok(uri, "domstats", "--state", "--list-running"));
        Assert.Equal("\n", await Ok(uri, "domstats", "--state", "--list-shutoff"));

        // blockcopy through virDomainBlockRebase: --finish leaves a copy, --pivot moves the guest onto it.
        var events = await EventsAsync(uri, "event", "--all", "--domain", "bj");
        var copy = Path.Combine(d.Root, "copy.qcow2");
        Assert.Contains("Successfully copied", await Ok(uri, "blockcopy", "bj", "vda", copy, "--wait", "--finish"));
        Assert.Contains("file format: qcow2", await Run("qemu-img", "info", copy));
        Assert.Contains($" vda      {top}", await Ok(uri, "domblklist", "bj"));
        Assert.Contains("error: Requested operation is not valid: No active block job 'vda'", (await Virsh(uri, "blockjob", "bj", "vda", "--abort")).Stderr);
        // and through virDomainBlockCopy with a destination's XML: raw, then pivoted.
        var raw = Path.Combine(d.Root, "copy.raw");
        var dest = await Xml(d, "dest.xml", $"<disk type='file'><source file='{raw}'/><driver type='raw'/></disk>");
        Assert.Contains("Successfully pivoted", await Ok(uri, "blockcopy", "bj", "vda", "--xml", dest, "--wait", "--pivot"));
        Assert.Contains($" vda      {raw}", await Ok(uri, "domblklist", "bj"));
        Assert.Contains("file format: raw", await Run("qemu-img", "info", raw));
        Assert.Contains("block pull", (await Virsh(uri, "blockpull", "bj", "vda")).Stderr);
        var seen = await StopEventsAsync(events);
        Assert.Contains("event 'block-job-2' for domain 'bj': Block Copy for vda ready\n", seen);
        Assert.Contains("event 'block-job-2' for domain 'bj': Block Copy for vda completed\n", seen);
        Assert.Contains($"event 'block-job' for domain 'bj': Block Copy for {top} ready\n", seen); // the older event names the disk by its path
        await Ok(uri, "destroy", "bj");

        // blockcommit --active --pivot: the overlay merged into its base, the guest on the base.
        await File.WriteAllTextAsync(Path.Combine(d.Root, "bj.xml"), d.GuestXml("bj",
            devices: $"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{top}'/><target dev='vda' bus='virtio'/></disk>"));
        await Ok(uri, "define", Path.Combine(d.Root, "bj.xml"));
        await Ok(uri, "start", "bj");
        Assert.Contains("Successfully pivoted", await Ok(uri, "blockcommit", "bj", "vda", "--active", "--pivot"));
        Assert.Contains($" vda      {bas}", await Ok(uri, "domblklist", "bj"));
        Assert.Contains("committing below the active image", (await Virsh(uri, "blockcommit", "bj", "vda")).Stderr);
        await Ok(uri, "destroy", "bj");
    }

    [Fact]
    public async Task Bad_packets_and_other_users_are_turned_away_and_the_daemon_goes_on()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        // Packets no client sends: a length below the header's, one past libvirt's limit, a
        // program nobody serves, a header cut short. Each ends that connection, not the daemon.
        var script = Path.Combine(d.Root, "bad.py");
        await File.WriteAllTextAsync(script, $$"""
            import socket, struct
            def send(data):
                s = socket.socket(socket.AF_UNIX); s.connect("{{d.LibvirtSocket}}"); s.settimeout(3)
                s.sendall(data)
                try:
                    got = s.recv(65536)
                except socket.timeout:
                    got = b"(no answer)"
                except ConnectionResetError:
                    got = b""  # closed with our bytes unread
                s.close()
                return got
            print("short", send(struct.pack(">I", 8) + b"garbage!"))
            print("huge", send(struct.pack(">I", 0x7fffffff)))
            hdr = struct.pack(">IIIiII", 0x12345678, 1, 1, 0, 7, 0)
            reply = send(struct.pack(">I", 4 + len(hdr)) + hdr)
            print("program", len(reply) > 28, struct.unpack(">I", reply[24:28])[0] if len(reply) >= 28 else None)
            print("cut", send(struct.pack(">I", 100) + b"\x00" * 10))
            # On one connection: an unknown procedure, a call whose arguments stop short, a string
            # claiming 2 GiB. Each gets an error reply (status 1) and the connection goes on.
            s = socket.socket(socket.AF_UNIX); s.connect("{{d.LibvirtSocket}}"); s.settimeout(10)
            def call(proc, serial, body):
                h = struct.pack(">IIIiII", 0x20008086, 1, proc, 0, serial, 0)
                s.sendall(struct.pack(">I", 4 + len(h) + len(body)) + h + body)
                n = struct.unpack(">I", s.recv(4))[0]
                reply = b""
                while len(reply) < n - 4:
                    reply += s.recv(n - 4 - len(reply))
                return struct.unpack(">IIIiII", reply[:24])[4:], reply[24:]
            (serial, status), body = call(9999, 11, b"")
            print("unknown", serial, status, b"unknown procedure: 9999" in body)
            (serial, status), body = call(1, 12, struct.pack(">I", 1))
            print("truncated", serial, status)
            (serial, status), body = call(1, 13, struct.pack(">II", 1, 0x7fffffff))
            print("huge", serial, status)
            (serial, status), body = call(1, 14, struct.pack(">II", 0, 0))
            print("open", serial, status)
            s.close()
            """);
        var output = await Run("/usr/bin/python3", script);
        Assert.Contains("short b''", output);  // closed
        Assert.Contains("huge b''", output);
        Assert.Contains("program True 1", output); // an error reply (status 1: REMOTE_ERROR)
        Assert.Contains("cut b'(no answer)'", output); // waits for the rest, as a slow client's packet
        Assert.Contains("unknown 11 1 True", output);
        Assert.Contains("truncated 12 1", output);
        Assert.Contains("huge 13 1", output);
        Assert.Contains("open 14 0", output); // and the same connection still opens
        // A client that vanishes in the middle of an upload: the daemon goes on, the volume stays usable.
        await d.OkAsync("vol-create-as", "default", "gone.raw", "4M", "--format", "raw");
        var vanish = Path.Combine(d.Root, "vanish.py");
        await File.WriteAllTextAsync(vanish, $$"""
            import libvirt, os
            c = libvirt.open("{{d.LibvirtUri}}")
            vol = c.storagePoolLookupByName("default").storageVolLookupByName("gone.raw")
            st = c.newStream(0)
            vol.upload(st, 0, 4 << 20, 0)
            st.send(b"x" * (1 << 20))
            os._exit(0)
            """);
        await Run("/usr/bin/python3", vanish);
        Assert.Contains("gone.raw", await Ok(d.LibvirtUri, "vol-list", "default"));
        Assert.Contains("Capacity:       4.00 MiB", await Ok(d.LibvirtUri, "vol-info", "gone.raw", "--pool", "default"));
        Assert.Equal(" Id   Name   State\n--------------------\n\n", await Ok(d.LibvirtUri, "list", "--all"));

        // Another user: refused on the read-write socket even when its mode lets them in (the
        // kernel's SO_PEERCRED decides), served on the read-only one.
        File.SetUnixFileMode(d.LibvirtSocket, (UnixFileMode)0x1b6); // 0666
        var nobody = await RunAny("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "virsh", "-c", d.LibvirtUri, "list", "--all");
        Assert.NotEqual(0, nobody.ExitCode);
        Assert.Contains("libvirt client pid", d.Log);
        Assert.Contains("uid 65534 refused on the read-write socket", d.Log);
        var ro = await RunAny("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "virsh", "-r", "-c", $"qemu+unix:///system?socket={d.LibvirtSocket}-ro", "list", "--all");
        Assert.True(ro.ExitCode == 0, ro.ToString());
    }

    [Fact]
    public async Task Virt_manager_connects_fills_its_window_and_opens_a_guests_details_and_serial_console()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var uri = d.LibvirtUri;
        // The guest writes a line a second, so its console has something to show once opened.
        var ticks = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes("while true; do echo tick $(cat /proc/uptime); sleep 1; done\n"));
        await d.DefineAsync(d.GuestXml("vm1", $"vireo.run={ticks}", devices: "<console type='pty'><target type='serial' port='0'/></console>"));
        await d.OkAsync("start", "vm1");
        await d.WaitForSerialAsync("vm1", "VIREO-GUEST-READY");
        await File.WriteAllTextAsync(Path.Combine(d.Root, "n.xml"), "<network><name>vmnet</name><bridge name='vmn0'/></network>");
        await Ok(uri, "net-define", Path.Combine(d.Root, "n.xml"));
        // Debian's virt-manager, unchanged, on a virtual X display: it connects, probes what the
        // connection supports, registers its events, lists guests, networks and pools, and opens
        // the guest's details, then its console (the serial console, a stream through Vireo); its
        // debug log says what it did, and a screenshot of each is kept in out/test-artifacts.
        var artifacts = Directory.CreateDirectory(Path.Combine(fx.Repo, "out", "test-artifacts")).FullName;
        async Task<string> VirtManager(string show, string until, string shot)
        {
            var log = Path.Combine(d.Root, $"virt-manager-{show}.log");
            var png = Path.Combine(artifacts, shot);
            File.Delete(png);
            var shell = $"""
                HOME={d.Root} virt-manager --debug --no-fork -c '{uri}' --show-domain-{show} vm1 2>{log} &
                pid=$!
                for i in $(seq 1 300); do grep -q '{until}' {log} && break; sleep 0.2; done
                sleep 4
                /usr/bin/python3 -c "import gi; gi.require_version('Gdk', '3.0'); from gi.repository import Gdk; w = Gdk.get_default_root_window(); Gdk.pixbuf_get_from_window(w, 0, 0, w.get_width(), w.get_height()).savev('{png}', 'png', [], [])"
                kill $pid; wait $pid
                """;
            // dbus-run-session: virt-manager's session bus ends with it (GLib would otherwise autolaunch one that stays).
            await RunAny("xvfb-run", "-a", "-s", "-screen 0 1024x768x24", "dbus-run-session", "--", "sh", "-c", shell);
            Assert.True(new FileInfo(png).Length > 10_000, $"a screenshot of virt-manager's {show} window in {png}");
            return await File.ReadAllTextAsync(log);
        }
        var seen = await VirtManager("editor", "Showing VM details", "virt-manager-details.png");
        foreach (var line in new[] { "libvirt URI versions library=9.0.0", "Using domain events", "Using network events", "Using storage pool events",
                     "network=vmnet status=Inactive added", "pool=default status=Active added", "domain=vm1 status=Running added",
                     "changed to state=Active", "Showing VM details: <vmmDomain name=vm1" })
            Assert.True(seen.Contains(line, StringComparison.Ordinal), $"virt-manager's log lacks '{line}':\n{seen}");
        // What it would have missed: storage and network APIs (host devices Vireo does not list).
        Assert.DoesNotContain("doesn't seem to support storage APIs", seen);
        Assert.DoesNotContain("doesn't seem to support network APIs", seen);
        Assert.DoesNotContain("Error polling", seen);
        var console = await VirtManager("console", "Opening console stream", "virt-manager-serial-console.png");
        Assert.Contains("Opening console stream for dev=<DeviceSerial", console);
        Assert.DoesNotContain("Error opening console stream", console);
        Assert.DoesNotContain("Traceback", console[console.IndexOf("Opening console stream", StringComparison.Ordinal)..]);
        await d.OkAsync("destroy", "vm1");
    }

    [Fact]
    public async Task Display_passwords_are_shown_only_when_asked_and_edit_keeps_them()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("pw", devices: "<graphics type='vnc' port='-1' passwd='s3cret'/>"));
        var ro = $"qemu+unix:///system?socket={d.LibvirtSocket}-ro";
        // As libvirt: no password in the XML unless --security-info, which a read-only client may not ask for.
        Assert.DoesNotContain("s3cret", await d.OkAsync("dumpxml", "pw"));
        Assert.DoesNotContain("s3cret", await Ok(d.LibvirtUri, "dumpxml", "pw"));
        Assert.DoesNotContain("s3cret", await Ok(ro, "-r", "dumpxml", "pw"));
        Assert.Contains("passwd='s3cret'", await d.OkAsync("dumpxml", "pw", "--security-info"));
        Assert.Contains("passwd='s3cret'", await Ok(d.LibvirtUri, "dumpxml", "pw", "--security-info"));
        Assert.Contains("operation forbidden", (await Virsh(ro, "-r", "dumpxml", "pw", "--security-info")).Stderr);
        // vireo edit: $EDITOR changes the definition; the password is still there afterwards.
        d.CliEnvironment["EDITOR"] = "sed -i 's|>1</vcpu>|>2</vcpu>|'";
        Assert.Equal("Domain 'pw' XML configuration edited.\n", await d.OkAsync("edit", "pw"));
        var after = await d.OkAsync("dumpxml", "pw", "--inactive", "--security-info");
        Assert.Contains("<vcpu placement='static'>2</vcpu>", after);
        Assert.Contains("passwd='s3cret'", after);
        d.CliEnvironment["EDITOR"] = "true";
        Assert.Equal("Domain 'pw' XML configuration not changed.\n", await d.OkAsync("edit", "pw"));
        d.CliEnvironment["EDITOR"] = "sed -i 's|<memory|<bogus|; s|</memory>|</bogus>|'";
        var bad = await d.FailAsync("edit", "pw");
        Assert.Contains("Unsupported element <bogus> in <domain>", bad);
        var kept = System.Text.RegularExpressions.Regex.Match(bad, @"The edited XML stays in (\S+);").Groups[1].Value;
        Assert.Contains("<bogus", await File.ReadAllTextAsync(kept));
        Directory.Delete(Path.GetDirectoryName(kept)!, true);
        Assert.Contains("<vcpu placement='static'>2</vcpu>", await d.OkAsync("dumpxml", "pw", "--inactive")); // unchanged by the failed edit
    }

    [Fact]
    public async Task Libvirt_dbus_lists_starts_reads_stats_and_signals_as_cockpit_machines_uses_it()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("cp"));
        var uuid = (await d.OkAsync("domuuid", "cp")).Trim();
        var path = "/org/libvirt/QEMU/domain/_" + uuid.Replace('-', '_');
        // Debian's libvirt-dbus (what cockpit-machines talks to), on a D-Bus of the test's own. It
        // opens libvirt's own socket path: in a mount namespace of its own, /run/libvirt is the
        // daemon's run directory (nothing changes outside it). Every process ends by its PID.
        var script = Path.Combine(d.Root, "dbus.sh");
        await File.WriteAllTextAsync(script, $$"""
            set -u
            # A bus without service activation: the session bus's own would start a second libvirt-dbus,
            # outside the namespace, the first time anyone asks for org.libvirt.
            cat > {{d.Root}}/bus.conf <<'EOF'
            <busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>
              <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
            EOF
            dbus-daemon --config-file={{d.Root}}/bus.conf --nofork --print-address=1 > {{d.Root}}/bus.addr & dpid=$!
            lpid=; mpid=
            trap 'kill $mpid $lpid $dpid 2>/dev/null; wait' EXIT
            for i in $(seq 1 100); do [ -s {{d.Root}}/bus.addr ] && break; sleep 0.05; done
            export DBUS_SESSION_BUS_ADDRESS=$(head -1 {{d.Root}}/bus.addr)
            unshare -m --propagation private sh -c 'mount -t tmpfs none /run && mkdir /run/libvirt && mount --bind {{d.RunDir}} /run/libvirt && exec libvirt-dbus --session' & lpid=$!
            call() { gdbus call --session --dest org.libvirt --object-path "$@"; }
            for i in $(seq 1 100); do call /org/libvirt/QEMU --method org.libvirt.Connect.ListDomains 0 >/dev/null 2>&1 && break; sleep 0.1; done
            gdbus monitor --session --dest org.libvirt > {{d.Root}}/signals.txt & mpid=$!
            sleep 0.5
            echo "list $(call /org/libvirt/QEMU --method org.libvirt.Connect.ListDomains 0)"
            echo "props $(call {{path}} --method org.freedesktop.DBus.Properties.GetAll org.libvirt.Domain)"
            echo "create $(call {{path}} --method org.libvirt.Domain.Create 0)"
            echo "state $(call {{path}} --method org.libvirt.Domain.GetState 0)"
            echo "stats $(call {{path}} --method org.libvirt.Domain.GetStats 11 0)"
            echo "xml $(call {{path}} --method org.libvirt.Domain.GetXMLDesc 0 | head -c 40)"
            echo "pools $(call /org/libvirt/QEMU --method org.libvirt.Connect.ListStoragePools 0)"
            echo "destroy $(call {{path}} --method org.libvirt.Domain.Destroy 0)"
            sleep 1
            echo "missing $(call /org/libvirt/QEMU --method org.libvirt.Connect.DomainLookupByName nosuch 2>&1)"
            """);
        var output = await Run("bash", script);
        Assert.True(output.Contains($"list ([objectpath '{path}'],)", StringComparison.Ordinal), output);
        Assert.Contains("'Name': <<'cp'>>", output);
        Assert.Contains("'Persistent': <<true>>", output);
        Assert.Contains($"'UUID': <<'{uuid}'>>", output);
        Assert.Contains("create ()", output);
        Assert.Contains("state ((1, 1),)", output); // running, booted
        Assert.Matches(@"stats \(\{'state.state': <<1>>, 'state.reason': <<1>>, 'cpu.time': <<uint64 \d+>>, 'vcpu.current': <<uint32 1>>", output);
        Assert.Contains("xml (\"<domain type='qemu' id='1'>", output);
        Assert.Contains("pools ([objectpath '/org/libvirt/QEMU/storagepool/_", output);
        Assert.Contains("destroy ()", output);
        Assert.Contains("Domain not found: no domain with matching name 'nosuch'", output);
        var signals = await File.ReadAllTextAsync(Path.Combine(d.Root, "signals.txt"));
        Assert.Contains($"org.libvirt.Connect.DomainEvent (objectpath '{path}', 2, 0)", signals); // started, booted
        Assert.Contains($"org.libvirt.Connect.DomainEvent (objectpath '{path}', 5, 1)", signals); // stopped, destroyed
        Assert.Equal("shut off (destroyed)", await d.StateAsync("cp"));
    }

    [Fact]
    public async Task Cockpit_machines_lists_a_running_guest_through_libvirt_dbus()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("ck"));
        await d.OkAsync("start", "ck");
        // Debian's cockpit-ws with a local session (cockpit-bridge, no login) and cockpit-machines,
        // whose "system" bus is a dbus-daemon of the test's own where libvirt-dbus runs with
        // /run/libvirt bound to the daemon's run directory in a mount namespace of its own.
        // The script runs until the test writes its stop file; every process ends by its PID.
        var port = Net.FreePort();
        var (ready, stop) = (Path.Combine(d.Root, "cockpit.ready"), Path.Combine(d.Root, "cockpit.stop"));
        var script = Path.Combine(d.Root, "cockpit.sh");
        await File.WriteAllTextAsync(script, $$"""
            set -u
            cat > {{d.Root}}/bus.conf <<'EOF'
            <busconfig><type>system</type><listen>unix:tmpdir=/tmp</listen>
              <policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
            EOF
            sed 's/<type>system</<type>session</' {{d.Root}}/bus.conf > {{d.Root}}/session.conf
            dbus-daemon --config-file={{d.Root}}/bus.conf --nofork --print-address=1 > {{d.Root}}/bus.addr & dpid=$!
            # A session bus of its own too (with no libvirt-dbus on it): else GLib in cockpit-bridge autolaunches one that stays.
            dbus-daemon --config-file={{d.Root}}/session.conf --nofork --print-address=1 > {{d.Root}}/session.addr & spid=$!
            lpid=; wpid=
            trap 'kill $wpid $lpid $dpid $spid 2>/dev/null; wait' EXIT
            for i in $(seq 1 100); do [ -s {{d.Root}}/bus.addr ] && [ -s {{d.Root}}/session.addr ] && break; sleep 0.05; done
            export DBUS_SYSTEM_BUS_ADDRESS=$(head -1 {{d.Root}}/bus.addr) DBUS_SESSION_BUS_ADDRESS=$(head -1 {{d.Root}}/session.addr)
            unshare -m --propagation private sh -c 'mount -t tmpfs none /run && mkdir /run/libvirt && mount --bind {{d.RunDir}} /run/libvirt && exec libvirt-dbus --system' & lpid=$!
            for i in $(seq 1 100); do gdbus call --system --dest org.libvirt --object-path /org/libvirt/QEMU --method org.libvirt.Connect.ListDomains 0 >/dev/null 2>&1 && break; sleep 0.1; done
            /usr/lib/cockpit/cockpit-ws --no-tls -p {{port}} -a 127.0.0.1 --local-session=cockpit-bridge & wpid=$!
            touch {{ready}}
            while [ ! -e {{stop}} ]; do sleep 0.2; done
            """);
        var psi = new ProcessStartInfo("bash", [script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var cockpit = Process.Start(psi)!;
        var cockpitOut = cockpit.StandardOutput.ReadToEndAsync();
        var cockpitErr = cockpit.StandardError.ReadToEndAsync();
        try
        {
            for (var i = 0; i < 300 && !File.Exists(ready); i++) await Task.Delay(100);
            Assert.True(File.Exists(ready), "cockpit-ws started");
            using var browser = WebConsoleTests.Browser(d.Root);
            browser.Navigate().GoToUrl($"http://127.0.0.1:{port}/cockpit/@localhost/machines/index.html");
            var wait = new OpenQA.Selenium.Support.UI.WebDriverWait(browser, TimeSpan.FromSeconds(60));
            // This host has no hardware virtualization (true: TCG only), which cockpit-machines says first.
            var body = wait.Until(b => b.FindElement(OpenQA.Selenium.By.TagName("body")).Text is var t && (t.Contains("Ignore") || t.Contains("ck")) ? t : null);
            if (body.Contains("Hardware virtualization is disabled"))
                browser.FindElement(OpenQA.Selenium.By.XPath("//button[normalize-space()='Ignore']")).Click();
            var list = wait.Until(b => b.FindElement(OpenQA.Selenium.By.TagName("body")).Text is var t && t.Contains("ck") && t.Contains("Running") ? t : null);
            var artifacts = Directory.CreateDirectory(Path.Combine(fx.Repo, "out", "test-artifacts")).FullName;
            ((OpenQA.Selenium.ITakesScreenshot)browser).GetScreenshot().SaveAsFile(Path.Combine(artifacts, "cockpit-machines.png"));
            // What cockpit-machines could not fetch (show more), kept beside the screenshot.
            if (browser.FindElements(OpenQA.Selenium.By.XPath("//button[normalize-space()='show more']")) is [var more, ..])
            {
                more.Click();
                await Task.Delay(500);
                await File.WriteAllTextAsync(Path.Combine(artifacts, "cockpit-machines-alerts.txt"), browser.FindElement(OpenQA.Selenium.By.TagName("body")).Text);
            }
            Assert.Contains("Virtual machines", list);
            Assert.Contains("1 Storage pool", list);
            Assert.Contains("System", list); // the qemu:///system connection, which is Vireo
        }
        finally
        {
            await File.WriteAllTextAsync(stop, "");
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await cockpit.WaitForExitAsync(cts.Token);
        }
        await d.OkAsync("destroy", "ck");
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

        // --import of an existing disk: the guest boots with it as its virtio disk.
        var image = Path.Combine(d.Images, "imported.qcow2");
        await Run("qemu-img", "create", "-q", "-f", "qcow2", image, "16M");
        var boot = $"kernel={fx.GuestDir}/vmlinuz,initrd={fx.GuestDir}/initrd.img,kernel_args=console=ttyS0 quiet panic=-1";
        Assert.Contains("Domain creation completed.", await Run("virt-install", "--connect", d.LibvirtUri, "--name", "vi", "--osinfo", "linux2022", "--memory", "256",
            "--disk", $"path={image},bus=virtio", "--import", "--noautoconsole", "--graphics", "none", "--network", "none",
            "--serial", $"file,path={d.SerialLog("vi")}", "--boot", boot));
        await d.WaitForSerialAsync("vi", "VIREO-GUEST-READY");
        Assert.Contains("VIREO-GUEST: disk vda 16777216 bytes ro=0", await File.ReadAllTextAsync(d.SerialLog("vi")));
        await Ok(d.LibvirtUri, "destroy", "vi");

        // --cdrom of an ISO made here, with a new disk in the default pool: the installer's run has
        // the ISO as its CD-ROM, and virt-install leaves it to run (--wait 0).
        // (virt-install makes a pool of the ISO's directory, so it is one that holds no other pool.)
        var iso = Path.Combine(Directory.CreateDirectory(Path.Combine(d.Root, "isos")).FullName, "media.iso");
        await using (var f = File.Create(iso))
            Vireo.Host.Iso9660.Write(f, "Test media", [Vireo.Host.IsoFile.FromText("README.txt", "test media\n")]);
        var cd = await Run("virt-install", "--connect", d.LibvirtUri, "--name", "vc", "--osinfo", "linux2022", "--memory", "256",
            "--cdrom", iso, "--disk", "size=0.02", "--noautoconsole", "--graphics", "none", "--network", "none", "--wait", "0",
            "--serial", $"file,path={d.SerialLog("vc")}", "--boot", boot);
        Assert.Contains("Domain is still running. Installation may be in progress.", cd);
        await d.WaitForSerialAsync("vc", "VIREO-GUEST-READY");
        var inventory = await File.ReadAllTextAsync(d.SerialLog("vc"));
        Assert.Matches(@"VIREO-GUEST: disk sr0 \d+ bytes ro=1", inventory);
        Assert.Matches(@"VIREO-GUEST: disk vda 214\d{5} bytes ro=0", inventory); // 0.02 GiB
        Assert.Contains("vc.qcow2", await d.OkAsync("vol-list", "default")); // virt-install made the disk through the pool
        await Ok(d.LibvirtUri, "destroy", "vc");
    }

    [Fact]
    public async Task Python_libvirt_gets_libvirts_error_codes_and_concurrent_calls_answered()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("py"));
        var xml2 = Path.Combine(d.Root, "py2.xml");
        await File.WriteAllTextAsync(xml2, d.GuestXml("py2"));
        // python-libvirt (what virt-manager and virt-install are built on), with calls from
        // eight threads on one connection in flight at once: the replies may come in any order.
        var script = Path.Combine(d.Root, "t.py");
        await File.WriteAllTextAsync(script, $$"""
            import libvirt, threading, sys, time
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
            # As virt-manager: libvirt's default event loop on a thread, lifecycle callbacks.
            libvirt.virEventRegisterDefaultImpl()
            threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(int, 1)], daemon=True).start()
            e = libvirt.open("{{d.LibvirtUri}}")
            seen = []
            e.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, lambda conn, d, ev, detail, _: seen.append((d.name(), ev, detail)), None)
            print("networks", [n.name() for n in e.listAllNetworks()], "pools", [p.name() for p in e.listAllStoragePools()])
            d2 = e.defineXML(open("{{xml2}}").read())
            d2.create()
            st = e.newStream(0)
            d2.openConsole(None, st, 0)
            got = b""
            while b"VIREO-GUEST-READY" not in got:
                got += st.recv(4096)
            st.send(b"echo py-$((6*7))-ok\r")
            while b"py-42-ok" not in got:
                got += st.recv(4096)
            st.abort()
            print("console read", b"py-42-ok" in got)
            pool = e.storagePoolLookupByName("default")
            vol = pool.createXML("<volume><name>py.raw</name><capacity unit='bytes'>1048576</capacity><target><format type='raw'/></target></volume>", 0)
            data = bytes(range(256)) * 1024
            up = e.newStream(0)
            vol.upload(up, 0, len(data), 0)
            up.send(data)
            up.finish()
            down = e.newStream(0)
            vol.download(down, 0, len(data), 0)
            back = b""
            while True:
                chunk = down.recv(65536)
                if not chunk:
                    break
                back += chunk
            down.finish()
            print("volume round trip", back == data, len(back))
            d2.destroy()
            d2.undefine()
            time.sleep(1)
            print("events", seen)
            e.close()
            """);
        var output = await Run("/usr/bin/python3", script); // Debian's python, where python3-libvirt is
        Assert.Contains("code 42 domain 10 Domain not found: no domain with matching name 'nosuch'", output); // VIR_ERR_NO_DOMAIN, VIR_FROM_QEMU
        Assert.Contains("state [5, 0] persistent 1 active 0", output);                                     // VIR_DOMAIN_SHUTOFF
        Assert.Contains($"uuid {(await d.OkAsync("domuuid", "py")).Trim()}", output);
        Assert.Contains("calls 200 all right True errors []", output);
        Assert.Contains("flags refused 8 invalid argument: unsupported flags (0xff00) in function virDomainUndefineFlags", output); // VIR_ERR_INVALID_ARG
        Assert.Contains("py", await d.OkAsync("list", "--all", "--name"));
        Assert.Contains("networks [] pools ['default']", output);
        Assert.Contains("console read True", output);
        Assert.Contains("volume round trip True 262144", output);
        // Defined/Added, Started/Booted, Stopped/Destroyed, Undefined/Removed (virDomainEventType, detail).
        Assert.Contains("events [('py2', 0, 0), ('py2', 2, 0), ('py2', 5, 1), ('py2', 1, 0)]", output);
    }

    /// <summary>Writes a device or document into the test's directory and gives its path.</summary>
    private static async Task<string> Xml(TestDaemon d, string name, string text)
    {
        var path = Path.Combine(d.Root, name);
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    /// <summary>Runs a program to its end (2 minutes at most); another user's virsh gets a HOME it may write.</summary>
    private static async Task<CliResult> RunAny(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (program == "setpriv") psi.Environment["HOME"] = "/tmp";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(cts.Token);
        return new CliResult(p.ExitCode, await stdout, await stderr);
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
