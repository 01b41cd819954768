namespace Vireo.Engine;

/// <summary>libvirt's domain states, with virsh's words.</summary>
public enum DomainState { Shutoff, Running, Paused, Crashed, ShuttingDown }

public static class StateText
{
    public static string Of(DomainState s) => s switch
    {
        DomainState.Running => "running",
        DomainState.Paused => "paused",
        DomainState.Crashed => "crashed",
        DomainState.ShuttingDown => "in shutdown",
        _ => "shut off",
    };

    public static DomainState Parse(string s) => s switch
    {
        "running" => DomainState.Running,
        "paused" => DomainState.Paused,
        "crashed" => DomainState.Crashed,
        "in shutdown" => DomainState.ShuttingDown,
        _ => DomainState.Shutoff,
    };
}

/// <summary>A snapshot of one domain for list/dominfo.</summary>
public sealed record DomainSummary(
    int? Id, string Name, Guid Uuid, DomainState State, string Reason, bool Persistent, bool Autostart,
    int Vcpus, ulong MaxMemoryKiB, ulong MemoryKiB, string? Title, string OsType, int? Pid, double CpuTimeSeconds);
