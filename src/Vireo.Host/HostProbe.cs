namespace Vireo.Host;

public enum CheckStatus { Pass, Warn, Fail }

/// <summary>One line of host validation: what was checked, the verdict, and a hint when it is not PASS.</summary>
public sealed record HostCheck(string Area, string Title, CheckStatus Status, string? Detail = null, string? Hint = null);

/// <summary>Whether KVM can run an ordinary guest here, and why not.</summary>
public sealed record KvmStatus(bool Usable, string Reason);

/// <summary>Read-only probes of the host: CPU flags, /dev nodes, kernel modules, cgroups.</summary>
public static class HostProbe
{
    public static string ProcRoot { get; set; } = "/";

    private static string P(string path) => Path.Combine(ProcRoot, path.TrimStart('/'));

    public static string CpuFlags()
    {
        try
        {
            var line = File.ReadLines(P("/proc/cpuinfo")).FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            return line is null ? "" : " " + line[(line.IndexOf(':') + 1)..].Trim() + " ";
        }
        catch (IOException) { return ""; }
    }

    public static bool HasVirtFlags(out string which)
    {
        var f = CpuFlags();
        which = f.Contains(" vmx ") ? "vmx" : f.Contains(" svm ") ? "svm" : "";
        return which.Length > 0;
    }

    public static bool ModuleLoaded(string name) => Directory.Exists(P($"/sys/module/{name}"));

    /// <summary>
    /// KVM is usable when /dev/kvm opens read-write, the CPU has vmx or svm, and a hardware vendor
    /// module (kvm_intel, kvm_amd) drives it. A host with /dev/kvm from the kvm_pvm module and no
    /// vmx/svm creates VMs happily, but an ordinary guest kernel hangs under it.
    /// </summary>
    public static KvmStatus Kvm()
    {
        var dev = P("/dev/kvm");
        if (!File.Exists(dev)) return new(false, "/dev/kvm does not exist (the kvm modules are not loaded, or the CPU has no virtualization)");
        try
        {
            using var f = new FileStream(dev, FileMode.Open, FileAccess.ReadWrite);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return new(false, $"/dev/kvm cannot be opened read-write ({e.Message})");
        }
        var hasFlags = HasVirtFlags(out var which);
        var vendor = ModuleLoaded("kvm_intel") ? "kvm_intel" : ModuleLoaded("kvm_amd") ? "kvm_amd" : ModuleLoaded("kvm_pvm") ? "kvm_pvm" : null;
        if (vendor == "kvm_pvm" && !hasFlags)
            return new(false, "/dev/kvm is provided by the kvm_pvm module and the CPU has no vmx/svm: ordinary guests hang under it");
        if (!hasFlags)
            return new(false, $"the CPU reports no vmx/svm flags{(vendor is null ? "" : $" (vendor module {vendor})")}");
        if (vendor is null)
            return new(false, $"the CPU has {which} but neither kvm_intel nor kvm_amd is loaded");
        return new(true, $"{which} with {vendor}");
    }

    public static bool VhostNet() => File.Exists(P("/dev/vhost-net"));

    public static IReadOnlyList<HostCheck> Validate(string? qemuVersion, string? qemuImgVersion)
    {
        var checks = new List<HostCheck>();
        var hasFlags = HasVirtFlags(out var which);
        checks.Add(hasFlags
            ? new("QEMU", "Checking for hardware virtualization", CheckStatus.Pass, which)
            : new("QEMU", "Checking for hardware virtualization", CheckStatus.Fail, "no vmx/svm in /proc/cpuinfo",
                "Only emulated CPUs are available: define guests with <domain type='qemu'> (TCG); enable VT-x/AMD-V in the firmware or nested virtualization on the hypervisor for KVM."));
        var kvmExists = File.Exists(P("/dev/kvm"));
        checks.Add(kvmExists
            ? new("QEMU", "Checking if device /dev/kvm exists", CheckStatus.Pass)
            : new("QEMU", "Checking if device /dev/kvm exists", CheckStatus.Fail, null, "Load the module: modprobe kvm_intel (or kvm_amd)."));
        if (kvmExists)
        {
            var kvm = Kvm();
            checks.Add(kvm.Usable
                ? new("QEMU", "Checking if KVM can run guests", CheckStatus.Pass, kvm.Reason)
                : new("QEMU", "Checking if KVM can run guests", CheckStatus.Fail, kvm.Reason,
                    "Use <domain type='qemu'> (TCG) here; a type='kvm' domain is refused at start with this reason."));
        }
        checks.Add(VhostNet()
            ? new("QEMU", "Checking if device /dev/vhost-net exists", CheckStatus.Pass)
            : new("QEMU", "Checking if device /dev/vhost-net exists", CheckStatus.Warn, null,
                "Load the vhost_net module for faster virtio networking; Vireo uses userspace virtio-net without it."));
        checks.Add(File.Exists(P("/dev/net/tun"))
            ? new("QEMU", "Checking if device /dev/net/tun exists", CheckStatus.Pass)
            : new("QEMU", "Checking if device /dev/net/tun exists", CheckStatus.Fail, null, "Load the tun module: modprobe tun."));
        checks.Add(KernelFeature("bridge", "CONFIG_BRIDGE", "Checking for bridge support"));
        checks.Add(KernelFeature("macvtap", "CONFIG_MACVTAP", "Checking for macvtap support", CheckStatus.Warn));
        checks.Add(KernelFeature("nf_tables", "CONFIG_NF_TABLES", "Checking for nftables support"));
        foreach (var (tool, pkg, why) in new[] { (Dnsmasq.Binary, "dnsmasq-base", "DHCP and DNS on NAT and isolated networks"), ("/usr/sbin/nft", "nftables", "NAT, isolation and port forwards"), ("/usr/sbin/ip", "iproute2", "bridges, addresses and macvtaps") })
            checks.Add(File.Exists(P(tool))
                ? new("Network", $"Checking for {Path.GetFileName(tool)}", CheckStatus.Pass, tool)
                : new("Network", $"Checking for {Path.GetFileName(tool)}", CheckStatus.Fail, $"{tool} is missing; it runs {why}", $"Install it: apt-get install {pkg}."));
        checks.AddRange(Cgroups());
        checks.AddRange(Confinement(kvmExists));
        checks.Add(qemuVersion is null
            ? new("QEMU", "Checking for qemu-system-x86_64", CheckStatus.Fail, null, "Install it: apt-get install qemu-system-x86.")
            : new("QEMU", "Checking for qemu-system-x86_64", CheckStatus.Pass, qemuVersion));
        checks.Add(qemuImgVersion is null
            ? new("QEMU", "Checking for qemu-img", CheckStatus.Fail, null, "Install it: apt-get install qemu-utils.")
            : new("QEMU", "Checking for qemu-img", CheckStatus.Pass, qemuImgVersion));
        return checks;
    }

    /// <summary>What confinement of guests this host gives: the QEMU user, setpriv, seccomp, /dev/kvm for that user.</summary>
    private static IEnumerable<HostCheck> Confinement(bool kvmExists)
    {
        var user = QemuUser.Find(QemuUser.DefaultName);
        yield return user is not null
            ? new("Security", $"Checking for the unprivileged QEMU user {QemuUser.DefaultName}", CheckStatus.Pass, $"uid {user.Uid}")
            : new("Security", $"Checking for the unprivileged QEMU user {QemuUser.DefaultName}", CheckStatus.Warn, "guests' QEMUs run as root",
                $"Make it (scripts/setup.sh does: useradd --system --user-group --groups kvm {QemuUser.DefaultName}) and start the daemon with --qemu-user auto.");
        yield return File.Exists(P("/usr/bin/setpriv"))
            ? new("Security", "Checking for setpriv (starts QEMU as that user)", CheckStatus.Pass, "/usr/bin/setpriv")
            : new("Security", "Checking for setpriv (starts QEMU as that user)", CheckStatus.Fail, null, "Install it: apt-get install util-linux.");
        var seccomp = File.Exists(P("/proc/self/status")) && File.ReadLines(P("/proc/self/status")).Any(l => l.StartsWith("Seccomp:", StringComparison.Ordinal));
        yield return seccomp
            ? new("Security", "Checking for seccomp (QEMU's -sandbox)", CheckStatus.Pass)
            : new("Security", "Checking for seccomp (QEMU's -sandbox)", CheckStatus.Warn, "the kernel has no seccomp", "Use a kernel with CONFIG_SECCOMP_FILTER; QEMU then runs without its sandbox.");
        if (user is not null && kvmExists && P("/dev/kvm") == "/dev/kvm")
            yield return user.MayOpen("/dev/kvm", write: true)
                ? new("Security", $"Checking if /dev/kvm is open to {user.Name}", CheckStatus.Pass)
                : new("Security", $"Checking if /dev/kvm is open to {user.Name}", CheckStatus.Warn, "confined type='kvm' guests cannot start",
                    "Give it to the kvm group as udev does: chgrp kvm /dev/kvm; chmod 0660 /dev/kvm (type='qemu' guests do not need it).");
    }

    private static HostCheck KernelFeature(string module, string config, string title, CheckStatus missing = CheckStatus.Fail)
    {
        var how = KernelHas(module, config);
        return how is not null
            ? new("QEMU", title, CheckStatus.Pass, how)
            : new("QEMU", title, missing, $"the kernel has no {module} (not loaded, not built in, no module file)", $"Use a kernel with {config}, or load it: modprobe {module}.");
    }

    /// <summary>How the kernel provides a feature ("loaded", "built in", "module"), or null.</summary>
    public static string? KernelHas(string module, string config)
    {
        if (ModuleLoaded(module)) return "loaded";
        var cfg = KernelConfig();
        if (cfg is not null)
        {
            if (cfg.Contains($"\n{config}=y")) return "built in";
            if (cfg.Contains($"\n{config}=m")) return "module";
            return null;
        }
        var release = File.Exists(P("/proc/sys/kernel/osrelease")) ? File.ReadAllText(P("/proc/sys/kernel/osrelease")).Trim() : "";
        var dir = P($"/lib/modules/{release}");
        bool Listed(string file) => File.Exists(Path.Combine(dir, file)) && File.ReadLines(Path.Combine(dir, file)).Any(l => Path.GetFileName(l.Split(':')[0]).StartsWith(module + ".ko", StringComparison.Ordinal));
        if (Listed("modules.builtin")) return "built in";
        if (Listed("modules.dep")) return "module";
        return null;
    }

    private static string? _config;

    private static string? KernelConfig()
    {
        if (_config is not null) return _config;
        var path = P("/proc/config.gz");
        if (!File.Exists(path)) return null;
        try
        {
            using var gz = new System.IO.Compression.GZipStream(File.OpenRead(path), System.IO.Compression.CompressionMode.Decompress);
            return _config = "\n" + new StreamReader(gz).ReadToEnd();
        }
        catch (IOException) { return null; }
    }

    private static IEnumerable<HostCheck> Cgroups()
    {
        string[] controllers = ["cpu", "cpuacct", "memory", "devices", "blkio", "cpuset"];
        var mounts = File.Exists(P("/proc/self/mounts")) ? File.ReadAllLines(P("/proc/self/mounts")) : [];
        var v2 = mounts.Any(l => l.Split(' ') is [_, "/sys/fs/cgroup", "cgroup2", ..]);
        foreach (var c in controllers)
        {
            var v1 = mounts.Any(l => l.Split(' ') is [_, _, "cgroup", var opts, ..] && opts.Split(',').Contains(c));
            var inV2 = v2 && File.Exists(P("/sys/fs/cgroup/cgroup.controllers")) &&
                       File.ReadAllText(P("/sys/fs/cgroup/cgroup.controllers")).Split(' ', StringSplitOptions.TrimEntries).Contains(c is "cpuacct" ? "cpu" : c is "blkio" ? "io" : c);
            yield return v1 || inV2
                ? new("QEMU", $"Checking for cgroup '{c}' controller support", CheckStatus.Pass, v1 ? "v1" : "v2")
                : new("QEMU", $"Checking for cgroup '{c}' controller support", CheckStatus.Warn, null, $"Mount the cgroup '{c}' controller to limit guests' resources (Vireo runs without it).");
        }
    }
}
