using System.Text.Json;

namespace Vireo.Api;

/// <summary>
/// DomainInfo as tab-separated lines (GET /v1/domains?format=tsv): what the CLI's list and
/// lookups ask for, so that a one-shot CLI process never loads a JSON parser (~20 ms of its
/// ~60 ms budget here, measured). Field order is fixed; the title goes last, tabs and line
/// breaks in it become spaces.
/// </summary>
public static class DomainInfoTsv
{
    public static string Write(DomainInfo d) => string.Join('\t',
        d.Id?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-", d.Name, d.Uuid, d.State, d.Reason,
        d.Persistent ? "1" : "0", d.Autostart ? "1" : "0", d.Vcpus.ToString(System.Globalization.CultureInfo.InvariantCulture),
        d.MaxMemoryKiB.ToString(System.Globalization.CultureInfo.InvariantCulture), d.MemoryKiB.ToString(System.Globalization.CultureInfo.InvariantCulture),
        d.OsType, d.CpuTimeSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
        d.SecurityModel, d.SecurityLabel ?? "",
        d.Title?.Replace('\t', ' ').Replace('\n', ' ').Replace('\r', ' ') ?? "") + "\n";

    public static DomainInfo Read(string line)
    {
        var f = line.Split('\t');
        if (f.Length < 15) throw new FormatException($"Malformed domain line from the daemon: '{line}'");
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        return new DomainInfo(f[0] == "-" ? null : int.Parse(f[0], inv), f[1], f[2], f[3], f[4], f[5] == "1", f[6] == "1",
            int.Parse(f[7], inv), ulong.Parse(f[8], inv), ulong.Parse(f[9], inv), f[14].Length == 0 ? null : f[14], f[10], double.Parse(f[11], inv),
            f[12], f[13].Length == 0 ? null : f[13]);
    }

    public static DomainInfo[] ReadAll(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Read).ToArray();
}
