using System.Runtime.InteropServices;

namespace Vireo.Host;

/// <summary>sched_setaffinity(2) on a thread: which host CPUs it may run on (no .NET API pins another process's thread).</summary>
public static unsafe partial class Affinity
{
    private const int Words = 16; // 1024 CPUs, glibc's cpu_set_t

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint size, ulong* mask);

    public static void Set(int tid, IEnumerable<int> cpus)
    {
        var mask = stackalloc ulong[Words];
        for (int i = 0; i < Words; i++) mask[i] = 0;
        foreach (var c in cpus)
        {
            if (c is < 0 or >= Words * 64) throw new ArgumentOutOfRangeException(nameof(cpus), $"CPU {c} is beyond what a CPU set can hold");
            mask[c / 64] |= 1UL << (c % 64);
        }
        if (sched_setaffinity(tid, Words * sizeof(ulong), mask) != 0)
            throw new IOException($"sched_setaffinity of thread {tid}: {Marshal.GetLastPInvokeErrorMessage()}");
    }

    /// <summary>The host's online CPUs (/sys/devices/system/cpu/online, e.g. "0-1").</summary>
    public static string OnlineCpus()
    {
        try { return File.ReadAllText("/sys/devices/system/cpu/online").Trim(); }
        catch (IOException) { return $"0-{Environment.ProcessorCount - 1}"; }
    }

    /// <summary>The threads of a process (/proc/PID/task).</summary>
    public static IReadOnlyList<int> Threads(int pid)
    {
        try
        {
            return Directory.EnumerateDirectories($"/proc/{pid}/task")
                .Select(p => int.TryParse(Path.GetFileName(p), out var t) ? t : -1).Where(t => t > 0).Order().ToList();
        }
        catch (IOException) { return []; }
    }
}
