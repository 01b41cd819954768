using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>A volume as the pool last measured it: qemu-img's JSON is the source of every figure.</summary>
public sealed record VolumeState(
    string Pool, string Name, string Path, string Format, ulong Capacity, ulong Allocation, ulong Physical,
    string? BackingPath, string? BackingFormat)
{
    public VolumeDef ToDef() => new()
    {
        Name = Name, Capacity = Capacity, Allocation = Allocation, Format = Format,
        BackingPath = BackingPath, BackingFormat = BackingFormat,
    };
}

/// <summary>
/// A 'dir' pool: a directory whose regular files are its volumes. Like libvirt, the directory is
/// the truth: files copied in by hand appear on refresh, and nothing else is stored per volume.
/// </summary>
public sealed class StoragePool
{
    private readonly Lock _lock = new();
    private Dictionary<string, VolumeState> _volumes = new(StringComparer.Ordinal);

    /// <summary>Serialises changes to this pool's files (create, delete, resize, upload, refresh).</summary>
    internal SemaphoreSlim Op { get; } = new(1, 1);

    public PoolDef Def { get; internal set; }
    public bool IsActive { get; internal set; }
    public bool Autostart { get; internal set; }
    public string Name => Def.Name;
    public Guid Uuid => Def.Uuid;
    public string Dir => Def.TargetPath;

    internal StoragePool(PoolDef def) => Def = def;

    public IReadOnlyList<VolumeState> Volumes()
    {
        lock (_lock) return _volumes.Values.OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
    }

    public VolumeState? Find(string name)
    {
        lock (_lock) return _volumes.GetValueOrDefault(name);
    }

    internal void Set(VolumeState v)
    {
        lock (_lock) _volumes[v.Name] = v;
    }

    internal void Remove(string name)
    {
        lock (_lock) _volumes.Remove(name);
    }

    internal void Clear()
    {
        lock (_lock) _volumes = new(StringComparer.Ordinal);
    }

    /// <summary>Re-reads every file of the directory (qemu-img info, a few in parallel).</summary>
    internal async Task RefreshAsync(CancellationToken ct)
    {
        var files = Directory.EnumerateFiles(Dir).Where(f => !Path.GetFileName(f).StartsWith('.')).ToList();
        var found = new System.Collections.Concurrent.ConcurrentBag<VolumeState>();
        await Parallel.ForEachAsync(files, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (f, c) =>
        {
            if (await MeasureAsync(Name, f, c) is { } v) found.Add(v);
        });
        var map = found.ToDictionary(v => v.Name, StringComparer.Ordinal);
        lock (_lock) _volumes = map;
    }

    /// <summary>Measures one image file; null when it vanished or qemu-img cannot read it.</summary>
    internal static async Task<VolumeState?> MeasureAsync(string pool, string path, CancellationToken ct)
    {
        ImageInfo info;
        try { info = await QemuImg.InfoAsync(path, ct); }
        catch (Vireo.Host.CommandException) { return null; }
        long physical;
        try { physical = new FileInfo(path).Length; }
        catch (IOException) { return null; }
        var format = info.Format == "raw" && IsIso(path) ? "iso" : info.Format;
        return new VolumeState(pool, System.IO.Path.GetFileName(path), path, format, info.VirtualSize, info.ActualSize, (ulong)physical,
            info.FullBackingFile ?? info.BackingFile, info.BackingFormat);
    }

    /// <summary>An ISO 9660 image: "CD001" in the primary volume descriptor at sector 16 (what libvirt probes).</summary>
    private static bool IsIso(string path)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (f.Length < 0x8006) return false;
            f.Position = 0x8001;
            Span<byte> magic = stackalloc byte[5];
            f.ReadExactly(magic);
            return magic.SequenceEqual("CD001"u8);
        }
        catch (IOException) { return false; }
    }
}
