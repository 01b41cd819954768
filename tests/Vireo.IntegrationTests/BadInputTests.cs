namespace Vireo.IntegrationTests;

[Collection("vireo")]
public sealed class BadInputTests(VireoFixture fx)
{
    [Fact]
    public async Task Malformed_and_unsupported_xml_are_rejected_with_line_and_nothing_changes()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var r = await d.DefineResultAsync("<domain type='qemu'>\n  <name>x</name>\n  <memory>1024</memory\n</domain>");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: line 4: The XML is not well-formed", r.Stderr);

        r = await d.DefineResultAsync(d.GuestXml("snd", devices: "<gpu model='fast'/>"));
        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"error: line \d+: Unsupported element <gpu> in <devices>", r.Stderr);

        r = await d.DefineResultAsync("<domain type='qemu'><name>two</name><memory unit='MiB'>64</memory><devices><watchdog model='i8042'/><hostdev/></devices></domain>");
        Assert.Contains("Unsupported model of <watchdog> 'i8042'", r.Stderr);
        Assert.Contains("A <hostdev> needs type='pci' or 'usb'.", r.Stderr);

        Assert.Equal(" Id   Name   State\n-------------------\n\n", await d.OkAsync("list", "--all"));
        Assert.Empty(Directory.GetFiles(Path.Combine(d.ConfigDir, "qemu"), "*.xml"));
    }

    [Fact]
    public async Task Duplicate_names_and_uuids_are_refused()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        const string a = "<domain type='qemu'><name>dup</name><uuid>11111111-2222-4333-8444-555555555555</uuid><memory>65536</memory></domain>";
        await d.DefineAsync(a);
        // Same name, other uuid.
        var e = await d.DefineResultAsync(a.Replace("11111111-2222", "99999999-2222"));
        Assert.Contains("Domain 'dup' already exists with uuid 11111111-2222-4333-8444-555555555555", e.Stderr);
        // Same uuid, other name.
        e = await d.DefineResultAsync(a.Replace("<name>dup</name>", "<name>other</name>"));
        Assert.Contains("Domain 'dup' already has uuid 11111111-2222-4333-8444-555555555555", e.Stderr);
        // Redefining the same domain updates it.
        await d.DefineAsync(a.Replace("65536", "131072"));
        Assert.Contains("Max memory:     131072 KiB", await d.OkAsync("dominfo", "dup"));
    }

    [Fact]
    public async Task Starting_twice_unknown_domains_and_missing_files_give_exact_errors()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        Assert.Equal("error: Domain not found: no domain with matching name 'nosuch'.\n", await d.FailAsync("start", "nosuch"));

        await d.DefineAsync(d.GuestXml("twice"));
        await d.OkAsync("start", "twice");
        Assert.Equal("error: Domain 'twice' is already running.\n", await d.FailAsync("start", "twice"));
        await d.OkAsync("destroy", "twice");

        await d.DefineAsync(d.GuestXml("nodisk", devices: "<disk type='file' device='disk'><source file='/nonexistent/vireo-missing.img'/><target dev='vda'/></disk>"));
        Assert.Equal("error: Cannot access storage file '/nonexistent/vireo-missing.img' of disk 'vda': No such file or directory. Create it (qemu-img create) or fix <source>.\n",
            await d.FailAsync("start", "nodisk"));
        Assert.Equal("shut off (unknown)", await d.StateAsync("nodisk"));
        AssertNothingLeft(d, "nodisk");
    }

    [Fact]
    public async Task A_start_qemu_refuses_leaves_nothing_behind()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("badcpu", extra: "<cpu mode='custom'><model>no-such-cpu</model></cpu>"));
        var err = await d.FailAsync("start", "badcpu");
        Assert.Contains("Failed to start domain 'badcpu'", err);
        Assert.Contains("no-such-cpu", err); // QEMU's own words about the CPU model
        AssertNothingLeft(d, "badcpu");
        Assert.Equal("shut off (unknown)", await d.StateAsync("badcpu"));
    }

    [Fact]
    public async Task Kvm_domains_run_where_kvm_works_and_are_refused_with_the_reason_elsewhere()
    {
        var kvm = Vireo.Host.HostProbe.Kvm();
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("kvm1", type: "kvm"));
        if (kvm.Usable)
        {
            // On a host where KVM works, the same definition must run there.
            await d.OkAsync("start", "kvm1");
            await d.WaitForSerialAsync("kvm1", "VIREO-GUEST-READY");
            await d.OkAsync("destroy", "kvm1");
            return;
        }
        var err = await d.FailAsync("start", "kvm1");
        Assert.Contains("asks for KVM (type='kvm') but KVM cannot run guests on this host", err);
        Assert.Contains(kvm.Reason, err);
        Assert.Contains("<domain type='qemu'>", err);
        AssertNothingLeft(d, "kvm1");
    }

    private static void AssertNothingLeft(TestDaemon d, string name)
    {
        Assert.Empty(d.QemuPids());
        var qemuDir = Path.Combine(d.RunDir, "qemu");
        Assert.False(File.Exists(Path.Combine(qemuDir, name + ".monitor")), "monitor socket left behind");
        Assert.False(File.Exists(Path.Combine(qemuDir, name + ".xml")), "status file left behind");
    }
}
