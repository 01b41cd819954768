using System.Globalization;
using Vireo.Model;

namespace Vireo.Qemu;

public static partial class QemuArgv
{
    private static void Machine(DomainDef d, LaunchContext ctx, Args a)
    {
        a.Add("-name", $"guest={d.Name},debug-threads=on");
        if (ctx.StartPaused) a.Add("-S");
        if (ctx.Incoming) a.Add("-incoming", "defer");
        var machine = d.Os.Machine ?? "pc";
        var mopts = $"{machine},usb=off,dump-guest-core=off";
        if (d.Features.VmPortState is { } vp) mopts += $",vmport={vp}";
        if (!d.Features.Acpi) mopts += ",acpi=off";
        if (d.Features.Smm is { } smm) mopts += smm ? ",smm=on" : ",smm=off";
        if (d.Features.IoapicDriver is { } ioapic) mopts += ioapic == "qemu" ? ",kernel_irqchip=split" : ",kernel_irqchip=on";
        if (d.MemoryBacking?.NoSharePages == true) mopts += ",mem-merge=off";
        var hugepages = d.MemoryBacking?.Hugepages == true;
        if (hugepages && ctx.HugepagesMount is null)
            throw new LaunchException("<memoryBacking><hugepages/> needs huge pages, and this host has no hugetlbfs mounted; mount one (mount -t hugetlbfs none /dev/hugepages), reserve pages (sysctl vm.nr_hugepages), or remove <hugepages/>.");
        var numa = d.Cpu?.NumaCells ?? [];
        // Shared guest RAM (virtiofs): a memfd backend the vhost-user process can map.
        if (numa.Count == 0 && (hugepages || d.Numatune?.Nodeset is not null && d.MemoryBacking is not { AccessMode: "shared" } && d.MemoryBacking?.SourceType is not "memfd"))
        {
            var backend = MemoryBackend(d, "pc.ram", d.MemoryKiB, ctx, null);
            NumaPolicy(d, backend, null);
            a.Add("-object", backend.ToJsonString());
            mopts += ",memory-backend=pc.ram";
        }
        else if (numa.Count == 0 && (d.MemoryBacking is { AccessMode: "shared" } || d.MemoryBacking?.SourceType is "memfd"))
        {
            var backend = new System.Text.Json.Nodes.JsonObject
            {
                ["qom-type"] = d.MemoryBacking.SourceType == "file" ? "memory-backend-file" : "memory-backend-memfd",
                ["id"] = "pc.ram", ["size"] = d.MemoryKiB * 1024, ["share"] = d.MemoryBacking.AccessMode == "shared",
            };
            if (d.MemoryBacking.SourceType == "file") backend["mem-path"] = "/dev/shm";
            NumaPolicy(d, backend, null);
            a.Add("-object", backend.ToJsonString());
            mopts += ",memory-backend=pc.ram";
        }
        // UEFI: the firmware code (read-only) and the domain's variable store as the machine's two flash chips.
        if (d.Os.Loader is { Type: "pflash" } loader)
        {
            Flash(a, "pflash0", loader.Path, loader.ReadOnly);
            if (d.Os.Nvram?.Path is { } nvram) Flash(a, "pflash1", nvram, readOnly: false);
            mopts += ",pflash0=pflash0-format" + (d.Os.Nvram?.Path is not null ? ",pflash1=pflash1-format" : "");
            if (loader.Secure) a.Add("-global", "driver=cfi.pflash01,property=secure,value=on");
        }
        else if (d.Os.Loader is { Type: "rom" } rom) a.Add("-bios", rom.Path);
        a.Add("-machine", mopts);
        // type='qemu' is TCG; multi-threaded TCG gives each vCPU its own host thread.
        a.Add("-accel", d.Type == "kvm" ? "kvm" : "tcg,thread=multi");
        a.Add("-cpu", CpuModel(d));
        a.Add("-m", d.MaxMemory is { } mm ? $"size={d.MemoryKiB}k,slots={mm.Slots},maxmem={mm.KiB}k" : $"size={d.MemoryKiB}k");
        a.Add("-overcommit", d.MemoryBacking?.Locked == true ? "mem-lock=on" : "mem-lock=off");
        a.Add("-smp", Smp(d));
        for (int n = 0; n < numa.Count; n++)
        {
            var cell = numa[n];
            var id = cell.Id ?? n;
            var backend = MemoryBackend(d, $"ram-node{id}", cell.MemoryKiB, ctx, cell.MemAccess);
            NumaPolicy(d, backend, id);
            a.Add("-object", backend.ToJsonString());
            a.Add("-numa", $"node,nodeid={id},cpus={cell.Cpus.Replace(",", ",cpus=")},memdev=ram-node{id}");
        }
        if (d.Iothreads is { } io)
            for (int t = 1; t <= io.Count; t++)
                a.Object(new System.Text.Json.Nodes.JsonObject { ["qom-type"] = "iothread", ["id"] = $"iothread{(io.Ids.Count >= t ? io.Ids[t - 1] : t)}" });
        a.Add("-uuid", d.Uuid.ToString());
        Smbios(d, a);
        a.Add("-no-user-config", "-nodefaults");
        a.Add("-chardev", $"socket,id=charmonitor,fd={ctx.MonitorFd},server=on,wait=off");
        a.Add("-mon", "chardev=charmonitor,id=monitor,mode=control");
        if (ctx.PidFile is { } pidFile) a.Add("-pidfile", pidFile);
        var rtc = d.Clock?.Offset == "localtime" ? "base=localtime" : "base=utc";
        if (d.Clock?.Timers.Any(t => t.Name == "rtc" && t.TickPolicy == "catchup") == true) rtc += ",driftfix=slew";
        a.Add("-rtc", rtc);
        if (d.Type == "kvm" && d.Clock?.Timers.Any(t => t.Name == "pit" && t.TickPolicy == "delay") == true)
            a.Add("-global", "kvm-pit.lost_tick_policy=delay");
        if (d.Clock?.Timers.Any(t => t.Name == "hpet" && t.Present == "no") == true) a.Add("-no-hpet");
        var actions = new List<string>();
        // on_poweroff=restart: QEMU pauses on a guest poweroff and the engine resets it.
        if (d.OnPoweroff == "restart") actions.Add("shutdown=pause");
        if (d.OnReboot == "destroy") actions.Add("reboot=shutdown");
        actions.Add(d.OnCrash switch { "preserve" => "panic=pause", "restart" => "panic=none", _ => "panic=shutdown" });
        a.Add("-action", string.Join(',', actions));
        if (d.Pm is { } pm)
        {
            var pmDev = IsQ35(d) ? "ICH9-LPC" : "PIIX4_PM";
            if (pm.SuspendToMem is { } s3) a.Add("-global", $"{pmDev}.disable_s3={(s3 == "no" ? 1 : 0)}");
            if (pm.SuspendToDisk is { } s4) a.Add("-global", $"{pmDev}.disable_s4={(s4 == "no" ? 1 : 0)}");
        }
        if (d.Os.Kernel is { } k) a.Add("-kernel", k);
        if (d.Os.Initrd is { } i) a.Add("-initrd", i);
        if (d.Os.Cmdline is { } c) a.Add("-append", c);
        var perDevice = d.Devices.Disks.Any(x => x.BootOrder is not null) || d.Devices.Interfaces.Any(x => x.BootOrder is not null);
        if (!perDevice && d.Os.BootDevices.Count > 0)
        {
            var order = string.Concat(d.Os.BootDevices.Select(b => b switch { "hd" => 'c', "cdrom" => 'd', "network" => 'n', _ => 'a' }));
            a.Add("-boot", d.Os.BootMenu == true ? $"order={order},menu=on" : $"order={order}");
        }
        else if (perDevice || d.Os.BootMenu is not null)
            a.Add("-boot", d.Os.BootMenu == true ? "menu=on,strict=on" : "strict=on");
        a.Add("-display", "none");
        if (ctx.Sandbox) a.Add("-sandbox", SandboxOptions);
        a.Add("-msg", "timestamp=on");
    }

    /// <summary>libvirt's own -sandbox (qemu.conf seccomp_sandbox = 1).</summary>
    public const string SandboxOptions = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

    /// <summary>
    /// &lt;numatune&gt;: the host NUMA nodes a RAM backend's pages come from (a guest cell's
    /// &lt;memnode&gt;, else the domain's &lt;memory&gt;), as libvirt passes them: strict is bind.
    /// restrictive leaves the policy to the cgroup, as in libvirt.
    /// </summary>
    private static void NumaPolicy(DomainDef d, System.Text.Json.Nodes.JsonObject backend, int? cell)
    {
        if (d.Numatune is not { } nt) return;
        var (mode, nodeset) = cell is { } c && nt.Memnodes.FirstOrDefault(m => m.CellId == c) is { Nodeset: not null } mn
            ? (mn.Mode, mn.Nodeset) : (nt.Mode ?? "strict", nt.Nodeset);
        if (nodeset is null || mode == "restrictive" || CpuList.Parse(nodeset) is not { } nodes) return;
        backend["host-nodes"] = new System.Text.Json.Nodes.JsonArray(nodes.Select(n => (System.Text.Json.Nodes.JsonNode)n).ToArray());
        backend["policy"] = mode switch { "preferred" => "preferred", "interleave" => "interleave", _ => "bind" };
    }

    /// <summary>A RAM backend: huge pages from hugetlbfs, memfd when shared (vhost-user), plain RAM otherwise.</summary>
    private static System.Text.Json.Nodes.JsonObject MemoryBackend(DomainDef d, string id, ulong kib, LaunchContext ctx, string? access)
    {
        var mb = d.MemoryBacking;
        var shared = (access ?? mb?.AccessMode) == "shared";
        var o = new System.Text.Json.Nodes.JsonObject();
        if (mb?.Hugepages == true)
        {
            o["qom-type"] = "memory-backend-file";
            o["id"] = id;
            o["mem-path"] = ctx.HugepagesMount;
            o["prealloc"] = true;
        }
        else if (shared || mb?.SourceType == "memfd")
        {
            o["qom-type"] = "memory-backend-memfd";
            o["id"] = id;
        }
        else
        {
            o["qom-type"] = "memory-backend-ram";
            o["id"] = id;
        }
        o["size"] = kib * 1024;
        if (shared) o["share"] = true;
        if (mb?.Discard == true) o["discard-data"] = true;
        return o;
    }

    /// <summary>&lt;os&gt;&lt;smbios mode='sysinfo'/&gt;: the &lt;sysinfo&gt; strings as SMBIOS tables 0-3 and 11 (OEM strings).</summary>
    private static void Smbios(DomainDef d, Args a)
    {
        if (d.Os.SmbiosMode is "host")
            throw new LaunchException("<smbios mode='host'/> copies this host's SMBIOS tables, which Vireo does not do; use mode='sysinfo' with a <sysinfo> block, or remove it.");
        if (d.Os.SmbiosMode != "sysinfo" || d.Sysinfo.FirstOrDefault(s => s.Type == "smbios") is not { } si) return;
        foreach (var (block, entries) in si.Blocks)
        {
            var type = block switch { "bios" => 0, "system" => 1, "baseBoard" => 2, "chassis" => 3, _ => -1 };
            if (type < 0 || entries.Count == 0) continue;
            a.Add("-smbios", $"type={type}" + string.Concat(entries.Select(e => $",{e.Name}={Escape(e.Value)}")));
        }
        foreach (var oem in si.OemStrings) a.Add("-smbios", $"type=11,value={Escape(oem)}");
    }

    private static void Flash(Args a, string node, string path, bool readOnly)
    {
        a.Add("-blockdev", new System.Text.Json.Nodes.JsonObject
        {
            ["driver"] = "file", ["filename"] = path, ["node-name"] = $"{node}-storage", ["read-only"] = readOnly,
        }.ToJsonString());
        a.Add("-blockdev", new System.Text.Json.Nodes.JsonObject
        {
            ["node-name"] = $"{node}-format", ["read-only"] = readOnly, ["driver"] = "raw", ["file"] = $"{node}-storage",
        }.ToJsonString());
    }

    private static string CpuModel(DomainDef d)
    {
        var cpu = d.Cpu;
        var kvm = d.Type == "kvm";
        string model = cpu?.Mode switch
        {
            "host-passthrough" when kvm => "host",
            "host-passthrough" => throw new LaunchException(
                "CPU mode 'host-passthrough' needs KVM, and this domain is type='qemu' (TCG); use <cpu mode='host-model'/> or a named model such as qemu64."),
            "host-model" or "maximum" => kvm ? "host" : "max",
            _ => cpu?.Model ?? "qemu64",
        };
        // kvmclock (and the guest's ptp_kvm on top of it) is KVM's paravirtual clock.
        if (kvm && d.Clock?.Timers.FirstOrDefault(t => t.Name == "kvmclock") is { Present: { } present })
            model += present == "yes" ? ",kvmclock=on" : ",kvmclock=off";
        // Hyper-V enlightenments: QEMU's hv-* flags. Under TCG QEMU takes some and refuses the ones that need KVM in its own words.
        if (d.Clock?.Timers.Any(t => t.Name == "hypervclock" && t.Present == "yes") == true) model += ",hv-time=on";
        if (d.Features.Hyperv is { } hv)
        {
            if (hv.Mode == "passthrough") model += ",hv-passthrough=on";
            foreach (var f in hv.Features)
            {
                var flag = "hv-" + f.Name.Replace('_', '-');
                if (f.Name == "spinlocks") model += f.State == "on" ? $",hv-spinlocks=0x{f.Retries ?? 0x1fff:x}" : "";
                else if (f.Name == "vendor_id") model += f.State == "on" && f.Value is not null ? $",hv-vendor-id={f.Value}" : "";
                else model += $",{flag}={f.State}";
                foreach (var (child, state) in f.Children) model += $",{flag}-{child}={state}";
            }
        }
        if (d.Devices.Panics.Any(p => p.Model == "hyperv")) model += ",hv-crash";
        foreach (var (name, state) in d.Features.Kvm ?? [])
            model += name switch
            {
                "hidden" => state == "on" ? ",kvm=off" : "",
                "dirty-ring" => "",
                _ => $",kvm-{name}={state}",
            };
        if (d.Features.Switch("pvspinlock") is { } pv) model += $",kvm-pv-unhalt={pv}";
        if (d.Features.Switch("pmu") is { } pmu) model += $",pmu={pmu}";
        if (cpu is null) return model;
        foreach (var (policy, name) in cpu.Features)
            model += policy is "disable" or "forbid" ? $",{name}=off" : $",{name}=on";
        return model;
    }

    private static string Smp(DomainDef d)
    {
        var cur = d.VcpusCurrent ?? d.Vcpus;
        var s = cur.ToString(CultureInfo.InvariantCulture);
        var cpu = d.Cpu;
        var sockets = cpu?.Sockets ?? d.Vcpus;
        var cores = cpu?.Cores ?? 1;
        var threads = cpu?.Threads ?? 1;
        var dies = cpu?.Dies ?? 1;
        if (cpu?.Sockets is null && cpu?.Cores is null && cpu?.Threads is null) { sockets = d.Vcpus; cores = 1; threads = 1; }
        s += $",maxcpus={d.Vcpus},sockets={sockets}";
        if (dies != 1) s += $",dies={dies}";
        s += $",cores={cores},threads={threads}";
        return s;
    }
}
