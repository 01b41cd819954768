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
        // Shared guest RAM (virtiofs): a memfd backend the vhost-user process can map.
        if (d.MemoryBacking is { AccessMode: "shared" } || d.MemoryBacking?.SourceType is "memfd")
        {
            var backend = new System.Text.Json.Nodes.JsonObject
            {
                ["qom-type"] = d.MemoryBacking.SourceType == "file" ? "memory-backend-file" : "memory-backend-memfd",
                ["id"] = "pc.ram", ["size"] = d.MemoryKiB * 1024, ["share"] = d.MemoryBacking.AccessMode == "shared",
            };
            if (d.MemoryBacking.SourceType == "file") backend["mem-path"] = "/dev/shm";
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
        a.Add("-m", $"size={d.MemoryKiB}k");
        a.Add("-overcommit", "mem-lock=off");
        a.Add("-smp", Smp(d));
        a.Add("-uuid", d.Uuid.ToString());
        a.Add("-no-user-config", "-nodefaults");
        a.Add("-chardev", $"socket,id=charmonitor,fd={ctx.MonitorFd},server=on,wait=off");
        a.Add("-mon", "chardev=charmonitor,id=monitor,mode=control");
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
        a.Add("-msg", "timestamp=on");
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
