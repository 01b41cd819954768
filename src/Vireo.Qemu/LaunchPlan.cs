using Vireo.Model;

namespace Vireo.Qemu;

/// <summary>
/// What the argv builder needs from the host besides the definition: resolved and pre-opened
/// resources. The builder never opens anything itself; fds are numbers the spawner will dup2
/// into place.
/// </summary>
public sealed record LaunchContext
{
    public required string Emulator { get; init; }
    /// <summary>The fd (in the child) of the QMP listening socket the daemon created.</summary>
    public required int MonitorFd { get; init; }
    /// <summary>Start with the CPUs stopped (-S); the engine sends "cont" after setup.</summary>
    public bool StartPaused { get; init; } = true;
    /// <summary>True when /dev/vhost-net exists and may be requested.</summary>
    public bool VhostNet { get; init; }
    /// <summary>Where chardevs without an explicit path (unix channels) put their sockets.</summary>
    public required string ChannelDir { get; init; }
    /// <summary>Per-interface tap fds (by alias), filled by the network layer.</summary>
    public IReadOnlyDictionary<string, int> TapFds { get; init; } = new Dictionary<string, int>();
    /// <summary>Wait for the guest's state from a saved file (-incoming defer; restore sends migrate-incoming).</summary>
    public bool Incoming { get; init; }
    /// <summary>The TCP port the engine found free for a SPICE display with autoport.</summary>
    public int? SpicePort { get; init; }
    /// <summary>swtpm's control sockets, by TPM alias (the engine starts one swtpm per emulated TPM).</summary>
    public IReadOnlyDictionary<string, string> TpmSockets { get; init; } = new Dictionary<string, string>();
    /// <summary>An fd of /dev/vhost-vsock in the child, and the guest CID the engine chose for cid auto='yes'.</summary>
    public int? VsockFd { get; init; }
    public uint? VsockCid { get; init; }
    /// <summary>QEMU writes its pid here (-pidfile), which also marks its argv as this domain's: a daemon that lost its status file still finds it.</summary>
    public string? PidFile { get; init; }
    /// <summary>
    /// Run under QEMU's seccomp filter as libvirt does by default: no obsolete system calls, no
    /// setuid, no fork/exec, no changes to scheduling or affinity (the daemon pins threads itself).
    /// </summary>
    public bool Sandbox { get; init; }
    /// <summary>Listening sockets the engine made for unix chardevs at paths of their own, by path (passed as fd=).</summary>
    public IReadOnlyDictionary<string, int> ChardevFds { get; init; } = new Dictionary<string, int>();
    /// <summary>Where hugetlbfs is mounted, when the host has it (memory backed by huge pages).</summary>
    public string? HugepagesMount { get; init; }
}

/// <summary>A definition this QEMU cannot run; the message says why and what to change.</summary>
public sealed class LaunchException(string message) : Exception(message);
