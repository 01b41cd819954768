namespace Vireo.Host;

/// <summary>
/// The cgroup v1 controllers (cpu, memory, blkio, cpuset) as the kernel mounts them: a domain's
/// group is {mount}/{partition}/{name} in each, with sub-groups per thread kind where a limit is
/// per thread (libvirt's emulator, vcpuN, iothreadN). Written directly, as libvirt does without
/// systemd-machined; a v2-only (unified) host is reported, not guessed at.
/// </summary>
public static class Cgroups
{
    /// <summary>Where each v1 controller is mounted (from /proc/mounts), e.g. "cpu" → /sys/fs/cgroup/cpu.</summary>
    public static IReadOnlyDictionary<string, string> V1Mounts()
    {
        var map = new Dictionary<string, string>();
        try
        {
            foreach (var line in File.ReadLines("/proc/mounts"))
            {
                var f = line.Split(' ');
                if (f.Length < 4 || f[2] != "cgroup") continue;
                foreach (var opt in f[3].Split(','))
                    if (opt is "cpu" or "cpuacct" or "memory" or "blkio" or "cpuset" or "pids") map.TryAdd(opt, f[1]);
            }
        }
        catch (IOException) { }
        return map;
    }

    public static void Write(string dir, string file, string value)
    {
        try { File.WriteAllText(Path.Combine(dir, file), value); }
        catch (IOException e) { throw new IOException($"cannot write '{value}' to {Path.Combine(dir, file)}: {e.Message}", e); }
    }

    /// <summary>Moves threads (v1 "tasks" takes thread ids) into a group.</summary>
    public static void MoveThreads(string dir, IEnumerable<int> tids)
    {
        foreach (var t in tids)
            try { File.WriteAllText(Path.Combine(dir, "tasks"), t.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
            catch (IOException) when (!Directory.Exists($"/proc/{t}")) { } // the thread ended meanwhile
    }

    /// <summary>Removes a group and its sub-groups (each must be empty of tasks, as they are once QEMU is gone).</summary>
    public static void Remove(string dir)
    {
        if (!Directory.Exists(dir)) return;
        foreach (var sub in Directory.GetDirectories(dir)) Remove(sub);
        try { Directory.Delete(dir); }
        catch (IOException) { }
    }
}
