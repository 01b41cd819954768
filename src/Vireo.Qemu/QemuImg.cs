using System.Globalization;
using System.Text.Json.Nodes;
using Vireo.Host;

namespace Vireo.Qemu;

/// <summary>What qemu-img info --output=json says about an image.</summary>
public sealed record ImageInfo(string Filename, string Format, ulong VirtualSize, ulong ActualSize, string? BackingFile,
    string? BackingFormat = null, string? FullBackingFile = null, IReadOnlyList<string>? Snapshots = null);

/// <summary>qemu-img, through its JSON output.</summary>
public static class QemuImg
{
    public static string Binary { get; set; } = "qemu-img";

    /// <summary>One image (-U: also while a running QEMU holds it).</summary>
    public static async Task<ImageInfo> InfoAsync(string path, CancellationToken ct = default) =>
        Parse(JsonNode.Parse(await Exec.CheckedAsync(Binary, ["info", "--output=json", "-U", path], ct))!.AsObject(), path);

    /// <summary>The image and every image below it, top first.</summary>
    public static async Task<IReadOnlyList<ImageInfo>> ChainAsync(string path, CancellationToken ct = default)
    {
        var json = await Exec.CheckedAsync(Binary, ["info", "--output=json", "-U", "--backing-chain", path], ct);
        return JsonNode.Parse(json)!.AsArray().Select(n => Parse(n!.AsObject(), path)).ToList();
    }

    private static ImageInfo Parse(JsonObject o, string path) => new(
        o["filename"]?.GetValue<string>() ?? path,
        o["format"]?.GetValue<string>() ?? "raw",
        o["virtual-size"]?.GetValue<ulong>() ?? 0,
        o["actual-size"]?.GetValue<ulong>() ?? 0,
        o["backing-filename"]?.GetValue<string>(),
        o["backing-filename-format"]?.GetValue<string>(),
        o["full-backing-filename"]?.GetValue<string>(),
        o["snapshots"] is JsonArray snaps ? snaps.Select(x => x!["name"]!.GetValue<string>()).ToList() : []);

    /// <summary>qemu-img snapshot: -c (create), -a (apply), -d (delete) an internal snapshot of an image no QEMU holds.</summary>
    public static Task SnapshotAsync(string path, char op, string name, CancellationToken ct = default) =>
        Exec.CheckedAsync(Binary, ["snapshot", $"-{op}", name, path], ct);

    /// <param name="options">More -o options, e.g. "compat=1.1,lazy_refcounts=on".</param>
    public static Task CreateAsync(string path, string format, ulong sizeBytes, string? backingFile = null, string? backingFormat = null,
        string? preallocation = null, CancellationToken ct = default, string? options = null)
    {
        var args = new List<string> { "create", "-q", "-f", format };
        if (backingFile is not null) args.AddRange(["-b", backingFile, "-F", backingFormat ?? "qcow2"]);
        var o = string.Join(',', new[] { preallocation is null ? null : $"preallocation={preallocation}", options }.OfType<string>());
        if (o.Length > 0) args.AddRange(["-o", o]);
        args.Add(path);
        if (backingFile is null || sizeBytes > 0) args.Add(sizeBytes.ToString(CultureInfo.InvariantCulture));
        return Exec.CheckedAsync(Binary, args, ct);
    }

    /// <summary>
    /// Grows (or, with <paramref name="shrink"/>, shrinks) an image to a new virtual size.
    /// Shrinking loses whatever lies past the new end, so it is never implied.
    /// </summary>
    public static Task ResizeAsync(string path, string format, ulong sizeBytes, bool shrink = false, CancellationToken ct = default)
    {
        var args = new List<string> { "resize", "-q", "-f", format };
        if (shrink) args.Add("--shrink");
        args.AddRange([path, sizeBytes.ToString(CultureInfo.InvariantCulture)]);
        return Exec.CheckedAsync(Binary, args, ct);
    }

    /// <summary>
    /// Copies an image into a new file, converting its format (vol-clone, import of VMDK/VHD/VDI).
    /// <paramref name="progress"/> receives qemu-img's own percentage as it goes.
    /// </summary>
    public static async Task ConvertAsync(string source, string? sourceFormat, string target, string targetFormat,
        IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var args = new List<string> { "convert", "-p", "-O", targetFormat };
        if (sourceFormat is not null) args.AddRange(["-f", sourceFormat]);
        args.AddRange([source, target]);
        var psi = new System.Diagnostics.ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        using var p = System.Diagnostics.Process.Start(psi) ?? throw new CommandException($"Cannot run '{Binary}'.");
        var err = p.StandardError.ReadToEndAsync(ct);
        // -p writes "    (12.34/100%)\r" updates on stdout.
        var buf = new char[256];
        var line = new System.Text.StringBuilder();
        int n;
        while ((n = await p.StandardOutput.ReadAsync(buf, ct)) > 0)
        {
            foreach (var ch in buf.AsSpan(0, n))
            {
                if (ch is '\r' or '\n') { Report(line.ToString(), progress); line.Clear(); }
                else line.Append(ch);
            }
        }
        Report(line.ToString(), progress);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0)
            throw new CommandException($"'{Exec.Printable(Binary, args)}' failed (exit {p.ExitCode}): {(await err).Trim()}");
    }

    private static void Report(string text, IProgress<double>? progress)
    {
        var open = text.IndexOf('(');
        var slash = text.IndexOf('/', open + 1);
        if (progress is null || open < 0 || slash < 0) return;
        if (double.TryParse(text.AsSpan(open + 1, slash - open - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var pct))
            progress.Report(pct);
    }

    public static async Task<string> VersionAsync(CancellationToken ct = default)
    {
        var r = await Exec.RunAsync(Binary, ["--version"], ct);
        return r.Stdout.Split('\n')[0].Trim();
    }
}
