using System.Text.Json.Nodes;

namespace Vireo.Host;

public sealed class FirewallException(string message) : Exception(message);

/// <summary>nftables through the nft tool: scripts applied as one atomic transaction, the ruleset read as JSON.</summary>
public static class Nft
{
    private const string Binary = "/usr/sbin/nft";

    /// <summary>Applies a script with nft -f: all of it or none of it.</summary>
    public static async Task ApplyAsync(string script, CancellationToken ct = default)
    {
        var r = await Exec.RunAsync(Binary, ["-f", "-"], ct, stdin: script);
        if (!r.Ok) throw new FirewallException($"nft refused the rules: {r.Stderr.Trim().Replace("\n", " ")}");
    }

    /// <summary>The whole ruleset as nft's JSON "nftables" array.</summary>
    public static async Task<JsonArray> RulesetAsync(CancellationToken ct = default)
    {
        var r = await Exec.RunAsync(Binary, ["-j", "list", "ruleset"], ct);
        if (!r.Ok) throw new FirewallException($"Cannot read the nftables ruleset: {r.Stderr.Trim()}");
        return JsonNode.Parse(r.Stdout)?["nftables"]?.AsArray() ?? [];
    }
}

/// <summary>Kernel settings under /proc/sys (per network namespace for net.*).</summary>
public static class Sysctl
{
    public static string? Read(string key)
    {
        try { return File.ReadAllText("/proc/sys/" + key.Replace('.', '/')).Trim(); }
        catch (IOException) { return null; }
    }

    public static void Write(string key, string value)
    {
        try { File.WriteAllText("/proc/sys/" + key.Replace('.', '/'), value + "\n"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LinkException($"Cannot set {key}={value}: {e.Message}");
        }
    }
}
