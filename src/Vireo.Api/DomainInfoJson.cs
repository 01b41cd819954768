using System.Text.Json;

namespace Vireo.Api;

/// <summary>
/// Reads DomainInfo from JSON by hand. The CLI's hot paths (list, dominfo, domstate) use this
/// instead of the source-generated serializer, whose generic metadata over value types is JIT
/// compiled at every CLI start (~300 methods, ~30 ms here); JsonDocument needs none.
/// </summary>
public static class DomainInfoJson
{
    public static DomainInfo Read(JsonElement e) => new(
        e.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.Number ? id.GetInt32() : null,
        Str(e, "name") ?? "",
        Str(e, "uuid") ?? "",
        Str(e, "state") ?? "",
        Str(e, "reason") ?? "",
        Bool(e, "persistent"),
        Bool(e, "autostart"),
        e.TryGetProperty("vcpus", out var v) ? v.GetInt32() : 0,
        e.TryGetProperty("maxMemoryKiB", out var mm) ? mm.GetUInt64() : 0,
        e.TryGetProperty("memoryKiB", out var m) ? m.GetUInt64() : 0,
        Str(e, "title"),
        Str(e, "osType") ?? "hvm",
        e.TryGetProperty("cpuTimeSeconds", out var c) ? c.GetDouble() : 0);

    public static DomainInfo[] ReadList(JsonElement e) => e.EnumerateArray().Select(Read).ToArray();

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

    private static bool Bool(JsonElement e, string name) => e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.True;
}
