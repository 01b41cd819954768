using System.Globalization;
using System.Text.Json.Nodes;
using Vireo.Host;

namespace Vireo.Qemu;

/// <summary>What qemu-img info --output=json says about an image.</summary>
public sealed record ImageInfo(string Filename, string Format, ulong VirtualSize, ulong ActualSize, string? BackingFile);

/// <summary>qemu-img, through its JSON output.</summary>
public static class QemuImg
{
    public static string Binary { get; set; } = "qemu-img";

    public static async Task<ImageInfo> InfoAsync(string path, CancellationToken ct = default)
    {
        var json = await Exec.CheckedAsync(Binary, ["info", "--output=json", "-U", path], ct);
        var o = JsonNode.Parse(json)!.AsObject();
        return new ImageInfo(
            o["filename"]?.GetValue<string>() ?? path,
            o["format"]?.GetValue<string>() ?? "raw",
            o["virtual-size"]?.GetValue<ulong>() ?? 0,
            o["actual-size"]?.GetValue<ulong>() ?? 0,
            o["backing-filename"]?.GetValue<string>());
    }

    public static Task CreateAsync(string path, string format, ulong sizeBytes, string? backingFile = null, string? backingFormat = null, string? preallocation = null, CancellationToken ct = default)
    {
        var args = new List<string> { "create", "-q", "-f", format };
        if (backingFile is not null) args.AddRange(["-b", backingFile, "-F", backingFormat ?? "qcow2"]);
        if (preallocation is not null) args.AddRange(["-o", $"preallocation={preallocation}"]);
        args.Add(path);
        if (backingFile is null || sizeBytes > 0) args.Add(sizeBytes.ToString(CultureInfo.InvariantCulture));
        return Exec.CheckedAsync(Binary, args, ct);
    }

    public static async Task<string> VersionAsync(CancellationToken ct = default)
    {
        var r = await Exec.RunAsync(Binary, ["--version"], ct);
        return r.Stdout.Split('\n')[0].Trim();
    }
}
