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
        while (!_disposed)
        {
            var rc = Native.poll(&pfd, 1, 1000);
            if (rc > 0) break;
        }
        int? status = null;
        if (OwnChild)
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
    public static long? StartTime(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ');
            return long.Parse(fields[19], CultureInfo.InvariantCulture);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
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
