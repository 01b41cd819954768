using System.Text.Json.Serialization;

namespace Vireo.Api;

// The daemon's HTTP API (over a unix socket), shared by the daemon and the CLI. Paths:
//   GET    /v1/domains                      list (DomainInfo[])
//   POST   /v1/domains                      define (body: domain XML) -> DefineResult
//   GET    /v1/domains/{d}                  DomainInfo
//   DELETE /v1/domains/{d}                  undefine
//   GET    /v1/domains/{d}/xml[?inactive=1] domain XML
//   POST   /v1/domains/{d}/{start|shutdown|destroy|reboot|reset|suspend|resume}
//          start?paused=1, shutdown?timeout=SECONDS (0: do not wait)
//   PUT    /v1/domains/{d}/autostart?enable=1|0
//   POST   /v1/domains/{d}/monitor          MonitorRequest -> MonitorReply
//   GET    /v1/domains/{d}/console[?force=1]  WebSocket: raw serial console bytes
//   GET    /v1/events                       NDJSON stream of EventInfo
//   GET    /v1/capabilities                 CapabilitiesInfo
// Errors are RFC 7807 problem details: {"title","status","detail","errors"}.

public sealed record DomainInfo(
    int? Id, string Name, string Uuid, string State, string Reason, bool Persistent, bool Autostart,
    int Vcpus, ulong MaxMemoryKiB, ulong MemoryKiB, string? Title, string OsType, double CpuTimeSeconds);

public sealed record DefineResult(string Name, string Uuid, bool Created);

public sealed record MonitorRequest(string Command, bool Hmp);

public sealed record MonitorReply(string Output);

public sealed record EventInfo(string Domain, string Kind, string Event, string Detail, DateTimeOffset Time);

public sealed record MachineInfo(string Name, string? Alias, bool IsDefault, int MaxCpus);

public sealed record CpuModelInfo(string Name, bool Usable);

public sealed record CapabilitiesInfo(
    string Emulator, string QemuVersion, bool KvmUsable, string KvmReason, bool VhostNet,
    MachineInfo[] Machines, CpuModelInfo[] CpuModels);

public sealed record ProblemInfo(string? Title, int? Status, string? Detail, string[]? Errors);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DomainInfo))]
[JsonSerializable(typeof(DomainInfo[]))]
[JsonSerializable(typeof(DefineResult))]
[JsonSerializable(typeof(MonitorRequest))]
[JsonSerializable(typeof(MonitorReply))]
[JsonSerializable(typeof(EventInfo))]
[JsonSerializable(typeof(CapabilitiesInfo))]
[JsonSerializable(typeof(ProblemInfo))]
public sealed partial class ApiJson : JsonSerializerContext;
