using System.Runtime.InteropServices;
using System.Text;

namespace Vireo.Host;

/// <summary>
/// Starts long-lived children (QEMU, dnsmasq) with posix_spawn: argv only, a clean environment,
/// a new session (so the child outlives the daemon and its terminal's signals), default signal
/// handlers, stdin on /dev/null, stdout and stderr appended to a log file, and exactly the fds
/// asked for passed on (every fd .NET opens is close-on-exec; dup2 onto itself clears that).
/// </summary>
public static unsafe class Spawner
{
    public static int Spawn(IReadOnlyList<string> argv, string logPath, IEnumerable<int> passFds, IReadOnlyDictionary<string, string>? env = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["LC_ALL"] = "C",
            ["HOME"] = "/root",
        };
        if (env is not null) foreach (var kv in env) environment[kv.Key] = kv.Value;

        var attr = NativeMemory.AllocZeroed(1024);
        var fa = NativeMemory.AllocZeroed(1024);
        var sigs = NativeMemory.AllocZeroed(256);
        var strings = new List<nint>();
        try
        {
            Native.posix_spawnattr_init(attr);
            Native.posix_spawn_file_actions_init(fa);
            Native.sigemptyset(sigs);
            Native.posix_spawnattr_setsigmask(attr, sigs);
            Native.sigfillset(sigs);
            Native.sigdelset(sigs, 9);
            Native.sigdelset(sigs, 19);
            Native.posix_spawnattr_setsigdefault(attr, sigs);
            Native.posix_spawnattr_setflags(attr, (short)(Native.POSIX_SPAWN_SETSID | Native.POSIX_SPAWN_SETSIGDEF | Native.POSIX_SPAWN_SETSIGMASK));
            Native.posix_spawn_file_actions_addopen(fa, 0, "/dev/null", Native.O_RDONLY, 0);
            Native.posix_spawn_file_actions_addopen(fa, 1, logPath, Native.O_WRONLY | Native.O_CREAT | Native.O_APPEND, 0x180 /*0600*/);
            Native.posix_spawn_file_actions_adddup2(fa, 1, 2);
            foreach (var fd in passFds) Native.posix_spawn_file_actions_adddup2(fa, fd, fd);

            nint* argvp = stackalloc nint[argv.Count + 1];
            for (int i = 0; i < argv.Count; i++) argvp[i] = Str(argv[i], strings);
            argvp[argv.Count] = 0;
            var envList = environment.Select(kv => $"{kv.Key}={kv.Value}").ToList();
            nint* envp = stackalloc nint[envList.Count + 1];
            for (int i = 0; i < envList.Count; i++) envp[i] = Str(envList[i], strings);
            envp[envList.Count] = 0;

            var rc = Native.posix_spawn(out var pid, argv[0], fa, attr, argvp, envp);
            if (rc != 0)
                throw new CommandException($"Cannot start '{argv[0]}': {new System.ComponentModel.Win32Exception(rc).Message}.");
            return pid;
        }
        finally
        {
            Native.posix_spawn_file_actions_destroy(fa);
            Native.posix_spawnattr_destroy(attr);
            NativeMemory.Free(attr);
            NativeMemory.Free(fa);
            NativeMemory.Free(sigs);
            foreach (var s in strings) Marshal.FreeHGlobal(s);
        }
    }

    private static nint Str(string s, List<nint> keep)
    {
        var bytes = Encoding.UTF8.GetBytes(s + "\0");
        var p = Marshal.AllocHGlobal(bytes.Length);
        Marshal.Copy(bytes, 0, p, bytes.Length);
        keep.Add(p);
        return p;
    }
}
