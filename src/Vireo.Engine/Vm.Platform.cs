using System.Globalization;
using System.Text.Json.Nodes;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

// What a start needs from the host for the devices beyond disks and NICs (SPICE ports, host
// devices, huge pages), and what is set over QMP before the guest runs (display passwords,
// disk I/O limits, balloon statistics).
public sealed partial class Vm
{
    /// <summary>Problems with what the host must provide for the definition's other devices and tuning.</summary>
    private static IEnumerable<string> PlatformProblems(DomainDef d)
    {
        foreach (var p in TuningProblems(d)) yield return p;
        if (d.Type == "qemu" && d.Clock?.Timers.Any(t => t.Name == "kvmclock" && t.Present == "yes") == true)
            yield return "<timer name='kvmclock' present='yes'/> (the clock the guest's KVM PTP device, ptp_kvm, reads) needs KVM, and this domain runs under TCG (type='qemu'); remove the timer or use type='kvm' on a host where KVM works.";
        foreach (var t in d.Devices.Tpms)
        {
            if (t.BackendType == "emulator" && !(File.Exists(Swtpm) && File.Exists(SwtpmSetup)))
                yield return $"<tpm model='{t.Model}'><backend type='emulator'/> needs swtpm and swtpm_setup, which this host does not have; install them (apt-get install swtpm swtpm-tools) or remove the TPM.";
            if (t.BackendType == "passthrough" && !File.Exists(t.DevicePath ?? "/dev/tpm0"))
                yield return $"<tpm><backend type='passthrough'> uses the host's TPM at {t.DevicePath ?? "/dev/tpm0"}, which this host does not have; use <backend type='emulator' version='2.0'/> (swtpm) instead, or remove the TPM.";
            if (t.EncryptionSecret is not null)
                yield return $"<tpm><backend><encryption secret='{t.EncryptionSecret}'/> needs libvirt's secret store, which Vireo does not have; remove the <encryption> element.";
        }
        if (d.Devices.Vsock is not null && !File.Exists("/dev/vhost-vsock"))
            yield return "<vsock> needs /dev/vhost-vsock (the vhost_vsock kernel module), which this host does not have; load vhost_vsock or remove the vsock device.";
        else if (d.Devices.Vsock is not null)
            yield return "<vsock> is kept in the definition, but Vireo does not open /dev/vhost-vsock for it yet; remove the vsock device to start this guest.";
        foreach (var n in d.Devices.Interfaces.Where(n => n.Bandwidth is not null))
            yield return $"Interface '{n.Mac}' has <bandwidth>, which Vireo does not apply yet (tc on the tap); remove it to start this guest.";
        // model='dac' is what Vireo's confinement does (a QEMU user, files given to it); SELinux and AppArmor are not run.
        foreach (var l in d.Seclabels.Where(l => l.Type is "dynamic" or "static" && l.Model is not null and not "dac"))
            yield return $"<seclabel type='{l.Type}' model='{l.Model}'> needs that security driver, which this host does not run; use <seclabel type='none'/> or remove it.";
        foreach (var h in d.Devices.Hostdevs)
        {
            if (h.Type == "pci" && h.SourceAddress is { } sa)
            {
                var addr = QemuArgv.PciHostAddress(sa);
                if (!Directory.Exists($"/sys/bus/pci/devices/{addr}"))
                    yield return $"Host PCI device {addr} (<hostdev> {h.Alias}) is not present on this host; check lspci -D, or remove the <hostdev>.";
            }
            else if (h.Type == "usb" && !UsbDevicePresent(h))
                yield return $"Host USB device {UsbName(h)} (<hostdev> {h.Alias}) is not plugged into this host; check lsusb, or remove the <hostdev>.";
        }
    }

    private static string UsbName(HostdevDef h) =>
        h.Vendor is not null ? $"{h.Vendor}:{h.Product}" : $"bus {h.SourceAddress?.Get("bus")} device {h.SourceAddress?.Get("device")}";

    /// <summary>Whether a USB host device is plugged in: found in sysfs by vendor/product or by bus and device number.</summary>
    private static bool UsbDevicePresent(HostdevDef h)
    {
        const string root = "/sys/bus/usb/devices";
        if (!Directory.Exists(root)) return false;
        static string? Read(string dir, string f) { try { return File.ReadAllText(Path.Combine(dir, f)).Trim(); } catch (IOException) { return null; } catch (UnauthorizedAccessException) { return null; } }
        static int Hex(string? v) => v is null ? -1 : int.TryParse(v.StartsWith("0x") ? v[2..] : v, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var x) ? x : -1;
        foreach (var dir in Directory.EnumerateDirectories(root))
        {
            if (!int.TryParse(Read(dir, "busnum"), out var bus) || !int.TryParse(Read(dir, "devnum"), out var dev)) continue;
            if (h.Vendor is not null)
            {
                if (Hex(Read(dir, "idVendor")) == Hex(h.Vendor) && Hex(Read(dir, "idProduct")) == Hex(h.Product)) return true;
            }
            else if (int.TryParse(h.SourceAddress?.Get("bus"), out var b) && int.TryParse(h.SourceAddress?.Get("device"), out var dv) && b == bus && dv == dev)
                return true;
        }
        return false;
    }

    /// <summary>Where hugetlbfs is mounted, from /proc/mounts (read only for a guest that asks for huge pages); null when it is not.</summary>
    private static string? HugepagesMount(DomainDef d)
    {
        if (d.MemoryBacking?.Hugepages != true) return null;
        try
        {
            foreach (var line in File.ReadLines("/proc/mounts"))
            {
                var f = line.Split(' ');
                if (f.Length > 2 && f[2] == "hugetlbfs") return f[1];
            }
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>A free TCP port for a SPICE display with autoport, from 5900 up, as libvirt picks one (bound and released at once).</summary>
    private static int? FreeSpicePort(DomainDef d)
    {
        if (d.Devices.Graphics.FirstOrDefault(g => g.Type == "spice") is not { } g || g.ListenType == "none" || !(g.AutoPort || g.Port is null)) return null;
        var address = System.Net.IPAddress.TryParse(g.Listen ?? "127.0.0.1", out var ip) ? ip : System.Net.IPAddress.Loopback;
        for (var port = 5900; port < 65535; port++)
        {
            try
            {
                using var l = new System.Net.Sockets.TcpListener(address, port);
                l.Start();
                l.Stop();
                return port;
            }
            catch (System.Net.Sockets.SocketException) { }
        }
        throw new VireoException(ErrorCode.OperationFailed, "No free TCP port from 5900 up for the SPICE display.");
    }

    /// <summary>Settings QEMU takes over QMP once it runs (still paused): display passwords, disk I/O limits, balloon statistics.</summary>
    private static async Task ApplyRuntimeSettingsAsync(QmpClient qmp, DomainDef live, CancellationToken ct)
    {
        foreach (var g in live.Devices.Graphics.Where(g => g.Passwd is not null))
            await qmp.ExecuteAsync("set_password", new JsonObject { ["protocol"] = g.Type, ["password"] = g.Passwd }, ct);
        foreach (var disk in live.Devices.Disks.Where(x => x.Iotune.Count > 0 && x.HasMedia))
            await qmp.ExecuteAsync("block_set_io_throttle", Throttle(disk), ct);
        if (live.Devices.Memballoon is { Model: "virtio", StatsPeriod: { } period } mb)
            await qmp.ExecuteAsync("qom-set", new JsonObject
            {
                ["path"] = $"/machine/peripheral/{mb.Alias}", ["property"] = "guest-stats-polling-interval", ["value"] = period,
            }, ct);
    }

    /// <summary>A disk's &lt;iotune&gt; as QMP's block_set_io_throttle arguments (QEMU wants the six base limits always).</summary>
    public static JsonObject Throttle(DiskDef disk)
    {
        // The block backend of a virtio disk belongs to the virtio device inside the PCI proxy, as libvirt names it.
        var args = new JsonObject { ["id"] = disk.TargetBus == "virtio" ? $"/machine/peripheral/{disk.Alias}/virtio-backend" : disk.Alias };
        foreach (var k in new[] { "bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr" }) args[k] = 0;
        foreach (var (name, value) in disk.Iotune)
        {
            if (name == "group_name") args["group"] = value;
            else args[ThrottleNames[name]] = long.Parse(value, CultureInfo.InvariantCulture);
        }
        return args;
    }

    /// <summary>libvirt's &lt;iotune&gt; names and QEMU's (the direction goes after bps/iops there).</summary>
    private static readonly Dictionary<string, string> ThrottleNames = new()
    {
        ["total_bytes_sec"] = "bps", ["read_bytes_sec"] = "bps_rd", ["write_bytes_sec"] = "bps_wr",
        ["total_iops_sec"] = "iops", ["read_iops_sec"] = "iops_rd", ["write_iops_sec"] = "iops_wr",
        ["total_bytes_sec_max"] = "bps_max", ["read_bytes_sec_max"] = "bps_rd_max", ["write_bytes_sec_max"] = "bps_wr_max",
        ["total_iops_sec_max"] = "iops_max", ["read_iops_sec_max"] = "iops_rd_max", ["write_iops_sec_max"] = "iops_wr_max",
        ["total_bytes_sec_max_length"] = "bps_max_length", ["read_bytes_sec_max_length"] = "bps_rd_max_length",
        ["write_bytes_sec_max_length"] = "bps_wr_max_length", ["total_iops_sec_max_length"] = "iops_max_length",
        ["read_iops_sec_max_length"] = "iops_rd_max_length", ["write_iops_sec_max_length"] = "iops_wr_max_length",
        ["size_iops_sec"] = "iops_size",
    };
}
