using System.Globalization;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

// <cputune>, <vcpu cpuset>, <memtune> and <blkiotune> applied to a QEMU that has just started
// (still paused): its threads are pinned with sched_setaffinity and put into cgroups, as
// libvirt does. QEMU's vCPU and I/O threads are found over QMP (query-cpus-fast,
// query-iothreads); every other thread of the process is an emulator thread.
public sealed partial class Vm
{
    /// <summary>The group a domain's QEMU gets in each cgroup v1 controller: {mount}{partition}/{name}.vireo (libvirt: NAME.libvirt-qemu).</summary>
    private static string CgroupDir(string mount, DomainDef d) =>
        Path.Combine(mount, (d.ResourcePartition ?? "/machine").Trim('/'), $"{d.Name}.vireo");

    private static bool NeedsCpuCgroup(CputuneDef? ct) =>
        ct is not null && ((ct.Shares ?? ct.Period ?? ct.GlobalPeriod ?? ct.EmulatorPeriod ?? ct.IothreadPeriod) is not null
                           || (ct.Quota ?? ct.GlobalQuota ?? ct.EmulatorQuota ?? ct.IothreadQuota) is not null);

    /// <summary>What the host lacks for the definition's tuning, each with the element and the fix.</summary>
    private static IEnumerable<string> TuningProblems(DomainDef d)
    {
        var online = CpuList.Parse(Affinity.OnlineCpus()) ?? [];
        var onlineText = Affinity.OnlineCpus();
        IEnumerable<string> Cpus(string what, string? set)
        {
            if (set is null || CpuList.Parse(set) is not { } cpus) yield break;
            foreach (var c in cpus.Where(c => !online.Contains(c)).Take(1))
                yield return $"{what} names host CPU {c}, but this host's CPUs are {onlineText}; change the cpuset.";
        }
        foreach (var p in Cpus($"<vcpu cpuset='{d.VcpuCpuset}'>", d.VcpuCpuset)) yield return p;
        if (d.VcpuPlacement == "auto" || d.Numatune?.Placement == "auto")
            yield return "placement='auto' asks numad where to place the guest, and Vireo does not run numad; give a cpuset (<vcpu placement='static' cpuset=…>) or a nodeset (<numatune><memory nodeset=…>).";
        var mounts = Cgroups.V1Mounts();
        if (d.ResourcePartition is { } part && (!part.StartsWith('/') || part.Split('/').Any(x => x is "." or "..")))
            yield return $"<resource><partition>{part}</partition> must be an absolute cgroup path without '.' or '..' (e.g. /machine).";
        if (d.Cputune is { } ct)
        {
            foreach (var (vcpu, set) in ct.Vcpupins)
                foreach (var p in Cpus($"<vcpupin vcpu='{vcpu}' cpuset='{set}'>", set)) yield return p;
            foreach (var p in Cpus($"<emulatorpin cpuset='{ct.Emulatorpin}'>", ct.Emulatorpin)) yield return p;
            foreach (var (io, set) in ct.Iothreadpins)
                foreach (var p in Cpus($"<iothreadpin iothread='{io}' cpuset='{set}'>", set)) yield return p;
            if (NeedsCpuCgroup(ct) && !mounts.ContainsKey("cpu"))
                yield return "<cputune> shares, period and quota need the cgroup v1 cpu controller, which this host does not mount (Vireo does not drive cgroup v2 yet); remove them, or keep only the pins.";
            foreach (var x in ct.Other)
                yield return $"<cputune><{x.Name.LocalName}> is kept in the definition but not applied by Vireo yet; remove it to start this guest.";
        }
        if (d.Memtune is { } mt)
        {
            if (!mounts.TryGetValue("memory", out var mem))
                yield return "<memtune> needs the cgroup v1 memory controller, which this host does not mount (Vireo does not drive cgroup v2 yet); remove <memtune>.";
            else if (mt.SwapHardLimitKiB is not null && !File.Exists(Path.Combine(mem, "memory.memsw.limit_in_bytes")))
                yield return "<memtune><swap_hard_limit> needs swap accounting, which this kernel has off (boot with swapaccount=1); remove <swap_hard_limit>.";
            if (mt.MinGuaranteeKiB is not null)
                yield return "<memtune><min_guarantee> cannot be applied to a QEMU guest (libvirt refuses it too); remove it.";
        }
        if (d.Blkiotune is { } bt)
        {
            if (!mounts.TryGetValue("blkio", out var blk))
                yield return "<blkiotune> needs the cgroup v1 blkio controller, which this host does not mount (Vireo does not drive cgroup v2 yet); remove <blkiotune>.";
            else
            {
                var weights = File.Exists(Path.Combine(blk, "blkio.bfq.weight")) || File.Exists(Path.Combine(blk, "blkio.weight"));
                if ((bt.Weight is not null || bt.Devices.Any(x => x.Element("weight") is not null)) && !weights)
                    yield return "<blkiotune><weight> needs an I/O scheduler with weights (BFQ: echo bfq > /sys/block/DEV/queue/scheduler), which this host's disks do not use; remove the weight, or keep only the byte and IOPS limits.";
                foreach (var dev in bt.Devices)
                    if (BlockDeviceNumber(dev.Element("path")?.Value.Trim()) is null)
                        yield return $"<blkiotune><device><path>{dev.Element("path")?.Value.Trim()}</path> is not a block device on this host; check the path (lsblk), or remove the <device>.";
            }
        }
        if (d.Numatune is { } nt)
        {
            foreach (var nodes in new[] { nt.Nodeset }.Concat(nt.Memnodes.Select(m => m.Nodeset)).OfType<string>())
                foreach (var n in CpuList.Parse(nodes) ?? [])
                    if (!Directory.Exists($"/sys/devices/system/node/node{n}"))
                        yield return $"<numatune> names host NUMA node {n}, which this host does not have (it has {HostNodes()}); change the nodeset.";
            var cells = d.Cpu?.NumaCells.Select((c, i) => c.Id ?? i).ToHashSet() ?? [];
            foreach (var m in nt.Memnodes.Where(m => !cells.Contains(m.CellId)))
                yield return $"<numatune><memnode cellid='{m.CellId}'> names a guest NUMA cell the definition does not have; add it to <cpu><numa> or remove the <memnode>.";
        }
    }

    private static string HostNodes()
    {
        try { return File.ReadAllText("/sys/devices/system/node/online").Trim(); }
        catch (IOException) { return "node 0 only"; }
    }

    /// <summary>"8:0" for /dev/sda: the block device's major:minor, from sysfs; null when the path is no block device.</summary>
    private static string? BlockDeviceNumber(string? path)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path)) return null;
        try
        {
            var real = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
            var sys = $"/sys/class/block/{Path.GetFileName(real)}/dev";
            return File.Exists(sys) ? File.ReadAllText(sys).Trim() : null;
        }
        catch (IOException) { return null; }
    }

    /// <summary>Pins QEMU's threads and puts them into the domain's cgroups (before the guest runs).</summary>
    private async Task ApplyTuningAsync(QmpClient qmp, DomainDef d, int pid, CancellationToken ct)
    {
        var tune = d.Cputune;
        var pinned = d.VcpuCpuset is not null || tune is { } t && (t.Vcpupins.Count > 0 || t.Emulatorpin is not null || t.Iothreadpins.Count > 0);
        var cpuGroup = NeedsCpuCgroup(tune);
        if (!pinned && !cpuGroup && d.Memtune is null && d.Blkiotune is null) return;

        var vcpus = new Dictionary<int, int>();
        foreach (var c in (await qmp.ExecuteAsync("query-cpus-fast", null, ct))!.AsArray())
            vcpus[c!["cpu-index"]!.GetValue<int>()] = c["thread-id"]!.GetValue<int>();
        var iothreads = new Dictionary<int, int>();
        if (d.Iothreads is not null)
            foreach (var io in (await qmp.ExecuteAsync("query-iothreads", null, ct))!.AsArray())
                if (io!["id"]?.GetValue<string>() is { } id && id.StartsWith("iothread", StringComparison.Ordinal) && int.TryParse(id[8..], out var n))
                    iothreads[n] = io["thread-id"]!.GetValue<int>();
        var emulator = Affinity.Threads(pid).Except(vcpus.Values).Except(iothreads.Values).ToList();

        try
        {
            var all = d.VcpuCpuset is { } cs ? CpuList.Parse(cs) : null;
            foreach (var (index, tid) in vcpus)
            {
                var set = tune?.Vcpupins.FirstOrDefault(p => p.Vcpu == index).Cpuset;
                if ((set is not null ? CpuList.Parse(set) : all) is { } cpus) Affinity.Set(tid, cpus);
            }
            if ((tune?.Emulatorpin is { } ep ? CpuList.Parse(ep) : all) is { } emu)
                foreach (var tid in emulator) Affinity.Set(tid, emu);
            foreach (var (id, tid) in iothreads)
            {
                var set = tune?.Iothreadpins.FirstOrDefault(p => p.Iothread == id).Cpuset;
                if ((set is not null ? CpuList.Parse(set) : all) is { } cpus) Affinity.Set(tid, cpus);
            }

            var mounts = Cgroups.V1Mounts();
            if (cpuGroup && mounts.TryGetValue("cpu", out var cpuMount))
            {
                // libvirt's layout: shares and the global limit on the domain's group, a period and quota per vCPU, per I/O thread and for the emulator.
                var scope = Directory.CreateDirectory(CgroupDir(cpuMount, d)).FullName;
                if (tune!.Shares is { } sh) Cgroups.Write(scope, "cpu.shares", N(sh));
                Bandwidth(scope, tune.GlobalPeriod, tune.GlobalQuota);
                var emuDir = Directory.CreateDirectory(Path.Combine(scope, "emulator")).FullName;
                Bandwidth(emuDir, tune.EmulatorPeriod, tune.EmulatorQuota);
                Cgroups.MoveThreads(emuDir, emulator);
                foreach (var (index, tid) in vcpus)
                {
                    var dir = Directory.CreateDirectory(Path.Combine(scope, $"vcpu{index}")).FullName;
                    Bandwidth(dir, tune.Period, tune.Quota);
                    Cgroups.MoveThreads(dir, [tid]);
                }
                foreach (var (id, tid) in iothreads)
                {
                    var dir = Directory.CreateDirectory(Path.Combine(scope, $"iothread{id}")).FullName;
                    Bandwidth(dir, tune.IothreadPeriod, tune.IothreadQuota);
                    Cgroups.MoveThreads(dir, [tid]);
                }
            }
            if (d.Memtune is { } mt && mounts.TryGetValue("memory", out var memMount))
            {
                var scope = Directory.CreateDirectory(CgroupDir(memMount, d)).FullName;
                if (mt.HardLimitKiB is { } hard) Cgroups.Write(scope, "memory.limit_in_bytes", N(hard * 1024));
                if (mt.SoftLimitKiB is { } soft) Cgroups.Write(scope, "memory.soft_limit_in_bytes", N(soft * 1024));
                if (mt.SwapHardLimitKiB is { } swap) Cgroups.Write(scope, "memory.memsw.limit_in_bytes", N(swap * 1024));
                Cgroups.Write(scope, "cgroup.procs", pid.ToString(CultureInfo.InvariantCulture));
            }
            if (d.Blkiotune is { } bt && mounts.TryGetValue("blkio", out var blkMount))
            {
                var scope = Directory.CreateDirectory(CgroupDir(blkMount, d)).FullName;
                var bfq = File.Exists(Path.Combine(scope, "blkio.bfq.weight"));
                if (bt.Weight is { } w) Cgroups.Write(scope, bfq ? "blkio.bfq.weight" : "blkio.weight", N((ulong)w));
                foreach (var dev in bt.Devices)
                {
                    var num = BlockDeviceNumber(dev.Element("path")?.Value.Trim())!;
                    foreach (var (element, file) in new[] { ("read_bytes_sec", "blkio.throttle.read_bps_device"), ("write_bytes_sec", "blkio.throttle.write_bps_device"), ("read_iops_sec", "blkio.throttle.read_iops_device"), ("write_iops_sec", "blkio.throttle.write_iops_device"), ("weight", bfq ? "blkio.bfq.weight_device" : "blkio.weight_device") })
                        if (dev.Element(element)?.Value.Trim() is { Length: > 0 } v) Cgroups.Write(scope, file, $"{num} {v}");
                }
                Cgroups.Write(scope, "cgroup.procs", pid.ToString(CultureInfo.InvariantCulture));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot apply the CPU and resource tuning of '{d.Name}': {e.Message}");
        }

        static string N(ulong v) => v.ToString(CultureInfo.InvariantCulture);
        static void Bandwidth(string dir, ulong? period, long? quota)
        {
            if (period is { } p) Cgroups.Write(dir, "cpu.cfs_period_us", p.ToString(CultureInfo.InvariantCulture));
            if (quota is { } q) Cgroups.Write(dir, "cpu.cfs_quota_us", q.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Removes the domain's cgroups once its QEMU is gone.</summary>
    private static void RemoveCgroups(DomainDef d)
    {
        if (!NeedsCpuCgroup(d.Cputune) && d.Memtune is null && d.Blkiotune is null) return;
        foreach (var (controller, mount) in Cgroups.V1Mounts())
            if (controller is "cpu" or "memory" or "blkio")
                Cgroups.Remove(CgroupDir(mount, d));
    }
}
