using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Vireo.IntegrationTests;

/// <summary>The platform devices for real under TCG: an swtpm-backed TPM the guest sees, a watchdog whose action is carried out and reported, the SMBIOS strings and USB controllers the guest reads.</summary>
[Collection("vireo")]
public sealed class PlatformTests(VireoFixture fx)
{
    [Fact]
    public async Task An_emulated_tpm_is_served_by_swtpm_keeps_its_state_and_goes_with_undefine()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("tpm", devices: "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>"));
        await d.DefineAsync(d.GuestXml("tpm12", devices: "<tpm model='tpm-tis'><backend type='emulator'/></tpm>"));
        Assert.Contains("<backend type='emulator' version='1.2'/>", await d.OkAsync("dumpxml", "tpm12"));
        var uuid = (await d.OkAsync("domuuid", "tpm")).Trim();
        var state = Path.Combine(d.DataDir, "swtpm", uuid, "tpm2");

        await d.OkAsync("start", "tpm");
        await d.WaitForSerialAsync("tpm", "VIREO-GUEST-READY");
        Assert.Contains("VIREO-GUEST: tpm tpm0 2 /dev/tpm0", await File.ReadAllTextAsync(d.SerialLog("tpm")));
        Assert.True(File.Exists(Path.Combine(state, "tpm2-00.permall")), $"no TPM state in {state}");
        var swtpm = Procs.ChildProcesses(d.Pid, "swtpm");
        Assert.Single(swtpm);

        // swtpm ends with its QEMU; the state stays for the next start, which does not make a new one.
        await d.OkAsync("destroy", "tpm");
        await WaitGoneAsync(swtpm[0]);
        Assert.True(File.Exists(Path.Combine(state, "tpm2-00.permall")));
        await d.OkAsync("start", "tpm");
        await d.WaitForSerialAsync("tpm", "VIREO-GUEST-READY");
        Assert.Contains("VIREO-GUEST: tpm tpm0 2 /dev/tpm0", await File.ReadAllTextAsync(d.SerialLog("tpm")));
        // swtpm_setup manufactured the TPM once (it logs to the domain's log, which each start appends to).
        var log = await File.ReadAllTextAsync(Path.Combine(d.RunDir, "qemu", "tpm.log"));
        Assert.Single(Regex.Matches(log, "Starting vTPM manufacturing"));
        await d.OkAsync("destroy", "tpm");

        // A TPM 1.2 on a TIS: the guest sees version 1.
        await d.OkAsync("start", "tpm12");
        await d.WaitForSerialAsync("tpm12", "VIREO-GUEST-READY");
        Assert.Contains("VIREO-GUEST: tpm tpm0 1 /dev/tpm0", await File.ReadAllTextAsync(d.SerialLog("tpm12")));
        await d.OkAsync("destroy", "tpm12");

        // undefine removes the state; --keep-tpm keeps it.
        await d.OkAsync("undefine", "tpm");
        Assert.False(Directory.Exists(Path.Combine(d.DataDir, "swtpm", uuid)));
        var uuid12 = (await d.OkAsync("domuuid", "tpm12")).Trim();
        await d.OkAsync("undefine", "tpm12", "--keep-tpm");
        Assert.True(File.Exists(Path.Combine(d.DataDir, "swtpm", uuid12, "tpm1.2", "tpm-00.permall")));
        Assert.Contains("--tpm and --keep-tpm exclude each other", await d.FailAsync("undefine", "nosuch", "--tpm", "--keep-tpm"));
    }

    [Fact]
    public async Task A_watchdog_the_guest_stops_feeding_pauses_it_and_is_reported_as_virsh_does()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("wd", cmdlineExtra: "vireo.watchdog=3", devices: "<watchdog model='i6300esb' action='pause'/>"));
        var events = Task.Run(() => d.RunAsync("event", "--domain", "wd", "--event", "watchdog", "--timeout", "120"));
        await d.OkAsync("start", "wd");
        await d.WaitForSerialAsync("wd", "VIREO-GUEST: arming the watchdog for 3 s");
        Assert.Contains("VIREO-GUEST: watchdog i6300ESB timer", await File.ReadAllTextAsync(d.SerialLog("wd")));
        var ev = await events;
        Assert.Contains("event 'watchdog' for domain 'wd': pause", ev.Stdout);
        var sw = Stopwatch.StartNew();
        while (await d.StateAsync("wd") != "paused (watchdog)" && sw.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(100);
        Assert.Equal("paused (watchdog)", await d.StateAsync("wd"));
        await d.OkAsync("destroy", "wd");
    }

    [Fact]
    public async Task The_guest_reads_the_smbios_strings_and_sees_the_usb_controllers_and_sound_card()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        await d.DefineAsync(d.GuestXml("plat",
            extra: """
                <sysinfo type='smbios'>
                  <system><entry name='manufacturer'>Vireo Test</entry><entry name='product'>Platform Box</entry><entry name='serial'>SN-4711</entry></system>
                </sysinfo>
                """,
            devices: """
                <controller type='usb' model='ich9-ehci1'/>
                <controller type='usb' model='ich9-uhci1'><master startport='0'/></controller>
                <controller type='usb' model='qemu-xhci' index='1' ports='4'/>
                <input type='tablet' bus='usb'/>
                <sound model='ac97'/>
                <sound model='ich6'/>
                """).Replace("<kernel>", "<smbios mode='sysinfo'/><kernel>"));
        await d.OkAsync("start", "plat");
        await d.WaitForSerialAsync("plat", "VIREO-GUEST-READY");
        var serial = await File.ReadAllTextAsync(d.SerialLog("plat"));
        Assert.Contains("VIREO-GUEST: smbios vendor=Vireo Test product=Platform Box", serial);
        Assert.Contains("serial=SN-4711", serial);
        Assert.Matches(new Regex("VIREO-GUEST: usb usb\\d EHCI Host Controller"), serial);
        Assert.Matches(new Regex("VIREO-GUEST: usb usb\\d UHCI Host Controller"), serial);
        Assert.Matches(new Regex("VIREO-GUEST: usb usb\\d xHCI Host Controller"), serial);
        Assert.Matches(new Regex("VIREO-GUEST: usbdev \\d-1 0627:0001 QEMU USB Tablet"), serial);
        Assert.Contains("VIREO-GUEST: sound 0 ICH - Intel 82801AA-ICH", serial); // the AC'97 card, with its driver
        // The ICH6 HD audio controller is there at the slot libvirt gives it (its codec probe times out under TCG).
        var dumpxml = await d.OkAsync("dumpxml", "plat");
        var slot = Regex.Match(dumpxml, "<sound model='ich6'>\\s*<alias name='[^']*'/>\\s*<address type='pci' domain='0x0000' bus='0x00' slot='0x([0-9a-f]+)'").Groups[1].Value;
        Assert.Contains($"VIREO-GUEST: pci 0000:00:{slot}.0 8086:2668", serial);
        await d.OkAsync("destroy", "plat");
    }

    [Fact]
    public async Task Cpu_pins_and_cgroup_limits_are_applied_to_qemus_threads_and_removed_at_stop()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var backing = Path.Combine(d.Root, "blk.img");
        await using (var f = File.Create(backing)) f.SetLength(8 << 20);
        var loop = (await Exec("losetup", "-f", "--show", backing)).Trim();
        try
        {
            var name = $"tune{Environment.ProcessId}";
            await d.DefineAsync(d.GuestXml(name, extra: $"""
                <cputune>
                  <shares>512</shares><period>100000</period><quota>50000</quota>
                  <vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='1' cpuset='0'/><emulatorpin cpuset='1'/>
                </cputune>
                <memtune><hard_limit unit='MiB'>1024</hard_limit><soft_limit unit='MiB'>512</soft_limit></memtune>
                <blkiotune><device><path>{loop}</path><read_bytes_sec>1048576</read_bytes_sec><write_iops_sec>100</write_iops_sec></device></blkiotune>
                """).Replace("<vcpu>1</vcpu>", "<vcpu placement='static'>2</vcpu>"));
            await d.OkAsync("start", name);
            await d.WaitForSerialAsync(name, "VIREO-GUEST-READY");
            Assert.Contains("VIREO-GUEST: cpus 2", await File.ReadAllTextAsync(d.SerialLog(name)));

            var qemu = Procs.ChildProcesses(d.Pid, "qemu-system-x86").Single();
            var cpus = System.Text.Json.Nodes.JsonNode.Parse(await d.OkAsync("qemu-monitor-command", name, "{\"execute\":\"query-cpus-fast\"}"))!["return"]!.AsArray();
            var vcpu0 = cpus.Single(c => c!["cpu-index"]!.GetValue<int>() == 0)!["thread-id"]!.GetValue<int>();
            var vcpu1 = cpus.Single(c => c!["cpu-index"]!.GetValue<int>() == 1)!["thread-id"]!.GetValue<int>();
            Assert.Equal("1", AllowedCpus(qemu, vcpu0));
            Assert.Equal("0", AllowedCpus(qemu, vcpu1));
            Assert.Equal("1", AllowedCpus(qemu, qemu)); // the main (emulator) thread

            var cpu = $"/sys/fs/cgroup/cpu/machine/{name}.vireo";
            Assert.Equal("512", File.ReadAllText($"{cpu}/cpu.shares").Trim());
            Assert.Equal("50000", File.ReadAllText($"{cpu}/vcpu0/cpu.cfs_quota_us").Trim());
            Assert.Contains(vcpu0.ToString(), File.ReadAllLines($"{cpu}/vcpu0/tasks"));
            Assert.Contains(qemu.ToString(), File.ReadAllLines($"{cpu}/emulator/tasks"));
            var mem = $"/sys/fs/cgroup/memory/machine/{name}.vireo";
            Assert.Equal((1024L << 20).ToString(), File.ReadAllText($"{mem}/memory.limit_in_bytes").Trim());
            Assert.Equal((512L << 20).ToString(), File.ReadAllText($"{mem}/memory.soft_limit_in_bytes").Trim());
            Assert.Contains(qemu.ToString(), File.ReadAllLines($"{mem}/cgroup.procs"));
            var blk = $"/sys/fs/cgroup/blkio/machine/{name}.vireo";
            var devNum = File.ReadAllText($"/sys/class/block/{Path.GetFileName(loop)}/dev").Trim();
            Assert.Contains($"{devNum} 1048576", File.ReadAllText($"{blk}/blkio.throttle.read_bps_device"));
            Assert.Contains($"{devNum} 100", File.ReadAllText($"{blk}/blkio.throttle.write_iops_device"));

            await d.OkAsync("destroy", name);
            Assert.False(Directory.Exists(cpu) || Directory.Exists(mem) || Directory.Exists(blk), "the domain's cgroups are still there after destroy");

            // A pin to a CPU the host does not have is refused at start, naming it.
            await d.DefineAsync(d.GuestXml("badpin", extra: "<cputune><vcpupin vcpu='0' cpuset='63'/></cputune>"));
            Assert.Contains("<vcpupin vcpu='0' cpuset='63'> names host CPU 63, but this host's CPUs are", await d.FailAsync("start", "badpin"));
        }
        finally
        {
            await Exec("losetup", "-d", loop);
        }
    }

    private static string AllowedCpus(int pid, int tid) =>
        File.ReadAllLines($"/proc/{pid}/task/{tid}/status").Single(l => l.StartsWith("Cpus_allowed_list:"))["Cpus_allowed_list:".Length..].Trim();

    private static async Task<string> Exec(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)}: {err}");
        return output;
    }

    private static async Task WaitGoneAsync(int pid)
    {
        var sw = Stopwatch.StartNew();
        while (Directory.Exists($"/proc/{pid}") && Procs.ReadProc(pid, "stat") is { } st && !st.Contains(") Z ") && sw.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(50);
        Assert.False(Directory.Exists($"/proc/{pid}") && Procs.ReadProc(pid, "stat") is { } s && !s.Contains(") Z "), $"swtpm {pid} still runs after its QEMU ended");
    }
}
