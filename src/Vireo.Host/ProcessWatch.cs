using System.Globalization;

namespace Vireo.Host;

/// <summary>
/// Tells when a process ends, at once: a pidfd polled on a dedicated thread. Works for our own
/// children (then reaped with waitpid, giving the exit status) and for processes adopted after a
/// daemon restart, whose exit we see without waiting for PID 1 to reap them.
/// </summary>
public sealed class ProcessWatch : IDisposable
{
    private readonly int _pidfd;
    private readonly TaskCompletionSource<int?> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _disposed;

    public int Pid { get; }
    public bool OwnChild { get; }
    /// <summary>Completes with the exit status (own children) or null (adopted processes).</summary>
    public Task<int?> Exited => _exited.Task;

    private ProcessWatch(int pid, int pidfd, bool ownChild)
    {
        Pid = pid;
        _pidfd = pidfd;
        OwnChild = ownChild;
        var t = new Thread(Run) { IsBackground = true, Name = $"watch-{pid}" };
        t.Start();
    }

    /// <summary>Watches a process; null when it no longer exists.</summary>
    public static ProcessWatch? Start(int pid, bool ownChild)
    {
        var fd = Native.PidfdOpen(pid);
        if (fd < 0) return null;
        return new ProcessWatch(pid, fd, ownChild);
    }

    private unsafe void Run()
    {
        var pfd = new Native.PollFd { Fd = _pidfd, Events = Native.POLLIN };
        var ended = false;
        while (!_disposed)
        {
            var rc = Native.poll(&pfd, 1, 1000);
            if (rc > 0) { ended = true; break; }
        }
        int? status = null;
        // Disposed while the process still runs: never wait for it (waitpid would block this thread until it ends).
        if (OwnChild && ended)
        {
            // Reap our own child; the exit has happened, so this does not block for long.
            while (true)
            {
                var r = Native.waitpid(Pid, out var st, 0);
                if (r == Pid) { status = st; break; }
                if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != Native.EINTR) break;
            }
        }
        Native.close(_pidfd);
        _exited.TrySetResult(status);
    }

    public void Dispose() => _disposed = true;

    /// <summary>The process start time in clock ticks since boot (field 22 of /proc/PID/stat); null if gone.</summary>
    public static long? StartTime(int pid) => StatField(pid, 22);

    /// <summary>User plus system CPU time in seconds (fields 14 and 15 of /proc/PID/stat); 0 if gone.</summary>
    public static double CpuSeconds(int pid) =>
        ((StatField(pid, 14) ?? 0) + (StatField(pid, 15) ?? 0)) / (double)ClockTicksPerSecond;

    /// <summary>Resident memory in KiB (VmRSS in /proc/PID/status); null if gone.</summary>
    public static ulong? RssKiB(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return line is null ? null : ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return null; }
    }

    // USER_HZ: 100 on every Linux architecture .NET runs on (sysconf(_SC_CLK_TCK)).
    private const int ClockTicksPerSecond = 100;

    /// <summary>A thread's CPU time (user plus system, seconds) and the host CPU it last ran on (fields 14, 15 and 39 of its stat); null if gone.</summary>
    public static (double CpuSeconds, int Processor)? ThreadStat(int pid, int tid)
    {
        var path = $"/proc/{pid}/task/{tid}/stat";
        if (StatField(path, 14) is not { } user || StatField(path, 15) is not { } system || StatField(path, 39) is not { } cpu) return null;
        return ((user + system) / (double)ClockTicksPerSecond, (int)cpu);
    }

    private static long? StatField(int pid, int field) => StatField($"/proc/{pid}/stat", field);

    /// <summary>Field N (1-based, as proc(5) numbers them) of a stat file.</summary>
    private static long? StatField(string path, int field)
    {
        try
        {
            var stat = File.ReadAllText(path);
            // The command name (field 2) may hold spaces and parentheses: count from its closing one.
            var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(rest[field - 3], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>True when the process is stopped (SIGSTOP, or a debugger's tracing stop): it runs nothing, answers nothing, until SIGCONT.</summary>
    public static bool IsStopped(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[stat.LastIndexOf(')') + 2];
            return state is 'T' or 't';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or IndexOutOfRangeException) { return false; }
    }

    /// <summary>
    /// The process whose pid the file names, when it still runs with <paramref name="marker"/>
    /// and <paramref name="value"/> side by side in its argv (QEMU's own "-pidfile PATH"): a pid
    /// reused by another program is not mistaken for it. Null otherwise.
    /// </summary>
    public static int? FromPidFile(string pidFile, string marker, string value)
    {
        try
        {
            if (!int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0) return null;
            var argv = File.ReadAllText($"/proc/{pid}/cmdline").Split('\0');
            for (int i = 0; i + 1 < argv.Length; i++)
                if (argv[i] == marker && argv[i + 1] == value) return pid;
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public static bool Signal(int pid, int signal) => Native.kill(pid, signal) == 0;

    /// <summary>Describes a wait status: "exit code 1" or "signal 9".</summary>
    public static string Describe(int? status) => status switch
    {
        null => "exited",
        var s when (s & 0x7f) == 0 => $"exit code {(s >> 8) & 0xff}",
        var s => $"signal {s & 0x7f}",
    };
}
