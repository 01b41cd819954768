using System.Diagnostics;
using System.Xml.Linq;

namespace Vireo.IntegrationTests;

/// <summary>
/// Every document of the libvirt corpus (libvirt's own dumpxml of what virt-install wrote),
/// defined and started by the real QEMU under TCG: a guest moved from libvirt runs. The
/// documents are adapted to this host only where they must be: type='qemu' (KVM does not work
/// here) with host-model for host-passthrough, their disk images and kernel made here, and
/// user networking for libvirt's "default" network. What the host lacks is refused at start
/// with the element named.
/// </summary>
[Collection("vireo")]
public sealed class CorpusStartTests(VireoFixture fx)
{
    /// <summary>Cases this host cannot run, and the start error that must say why.</summary>
    private static readonly Dictionary<string, string> Refused = new()
    {
        ["hostdev-pci"] = "is not present on this host; check lspci -D, or remove the <hostdev>",
        ["hostdev-usb"] = "is not plugged into this host; check lsusb, or remove the <hostdev>",
        ["hugepages"] = "this host has no hugetlbfs mounted",
        ["vsock"] = "<vsock>",
        ["vsock-fixed"] = "<vsock>",
        ["nic-bandwidth"] = "<bandwidth>",
        ["win10-hyperv-full"] = "qemu-system-x86_64: kernel doesn't allow setting HyperV VP_INDEX", // QEMU's own words: it needs KVM
        ["blkiotune"] = "<blkiotune><weight> needs an I/O scheduler with weights (BFQ",
        ["clock-options"] = "<timer name='kvmclock' present='yes'/> (the clock the guest's KVM PTP device, ptp_kvm, reads) needs KVM",
    };

    private static string CorpusDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Vireo.sln"))) dir = dir.Parent;
            return Path.Combine(dir!.FullName, "tests", "Vireo.Tests", "Corpus");
        }
    }

    [Fact]
    public async Task Every_document_libvirt_wrote_starts_under_tcg_or_is_refused_with_the_reason()
    {
        await using var d = await TestDaemon.StartAsync(fx);
        var images = Directory.CreateDirectory(Path.Combine(d.Root, "corpus")).FullName;
        var started = new List<string>();
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        foreach (var dir in Directory.GetDirectories(CorpusDir).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir);
            var xml = await AdaptAsync(XElement.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "dumpxml.xml"))), images, d.SerialLog(name), fx.GuestDir);
            var def = await d.DefineResultAsync(xml);
            if (def.ExitCode != 0) { failures.Add($"{name}: define failed: {def.Stderr.Trim()}"); continue; }
            var r = await d.RunAsync("start", name);
            if (Refused.TryGetValue(name, out var why))
            {
                if (r.ExitCode == 0) failures.Add($"{name}: started, but this host should refuse it ({why})");
                else if (!r.Stderr.Contains(why)) failures.Add($"{name}: refused for another reason: {r.Stderr.Trim()}");
            }
            else if (r.ExitCode != 0) failures.Add($"{name}: {r.Stderr.Trim()}");
            else
            {
                var state = await d.StateAsync(name);
                if (!state.StartsWith("running")) failures.Add($"{name}: {state} after start");
                else started.Add(name);
                if (name == "debian11-kernel-boot")
                {
                    // The test guest's kernel in libvirt's document: it boots and sees libvirt's devices.
                    await d.WaitForSerialAsync(name, "VIREO-GUEST-READY", timeoutSeconds: 120);
                    var serial = await File.ReadAllTextAsync(d.SerialLog(name));
                    var mac = XElement.Parse(xml).Descendants("mac").First().Attribute("address")!.Value;
                    foreach (var line in new[] { $"VIREO-GUEST: nic eth0 {mac}", "VIREO-GUEST: disk vda", "VIREO-GUEST: rng virtio_rng.0", "VIREO-GUEST: port org.qemu.guest_agent.0", "VIREO-GUEST: pci 0000:00:02.0 1b36:000c" })
                        if (!serial.Contains(line)) failures.Add($"{name}: the guest does not report '{line}'");
                }
                await d.RunAsync("destroy", name);
            }
            await d.RunAsync("undefine", name, "--nvram");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of the corpus failed ({started.Count} started in {clock.Elapsed.TotalSeconds:0} s):\n" + string.Join("\n", failures));
        Assert.True(started.Count >= 100, $"only {started.Count} documents started");
    }

    /// <summary>The document with this host's images, kernel and networking.</summary>
    private static async Task<string> AdaptAsync(XElement dom, string images, string serialLog, string guestDir)
    {
        dom.SetAttributeValue("type", "qemu");
        if (dom.Element("cpu") is { } cpu && cpu.Attribute("mode")?.Value == "host-passthrough")
        {
            cpu.SetAttributeValue("mode", "host-model");
            cpu.SetAttributeValue("migratable", null);
            cpu.SetAttributeValue("check", null);
        }
        foreach (var k in dom.Element("os")!.Elements().Where(e => e.Name.LocalName is "kernel" or "initrd").ToList())
            k.Value = Path.Combine(guestDir, k.Name.LocalName == "kernel" ? "vmlinuz" : "initrd.img");
        if (dom.Element("os")!.Element("cmdline") is { } cmdline) cmdline.Value = "console=ttyS0 quiet panic=-1";
        var devices = dom.Element("devices")!;
        foreach (var src in devices.Elements("disk").Select(x => x.Element("source")).OfType<XElement>())
        {
            if (src.Attribute("file") is not { } file) continue;
            var local = Path.Combine(images, Path.GetFileName(file.Value));
            if (!File.Exists(local))
            {
                if (local.EndsWith(".qcow2", StringComparison.Ordinal)) await RunAsync("qemu-img", "create", "-q", "-f", "qcow2", local, "64M");
                else await File.WriteAllBytesAsync(local, new byte[1 << 20]);
            }
            file.Value = local;
        }
        foreach (var fs in devices.Elements("filesystem"))
            fs.Element("source")!.SetAttributeValue("dir", Directory.CreateDirectory(Path.Combine(images, "share")).FullName);
        foreach (var nic in devices.Elements("interface"))
        {
            nic.SetAttributeValue("type", "user");
            nic.Element("source")?.Remove();
        }
        // The serial console into a file, so a booting guest can be read.
        foreach (var s in devices.Elements("serial").Where(s => s.Attribute("type")?.Value == "pty"))
        {
            s.Element("log")?.Remove();
            s.AddFirst(new XElement("log", new XAttribute("file", serialLog), new XAttribute("append", "off")));
        }
        return dom.ToString();
    }

    private static async Task RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)}: {err}");
    }
}
