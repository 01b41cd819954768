using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Engine;

/// <summary>How vol-create-as lays out a new image: qemu-img's preallocation modes.</summary>
public enum Prealloc { Off, Metadata, Falloc, Full }

/// <summary>
/// Storage pools and their volumes: pool-* and vol-* verbs. Definitions live in
/// {config}/storage/NAME.xml, active pools are marked by {run}/storage/NAME.xml.
/// </summary>
public sealed class StorageManager
{
    private readonly EngineOptions _o;
    private readonly Hypervisor _hv;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, StoragePool> _pools = new(StringComparer.Ordinal);
    private readonly Lock _defineLock = new();

    internal StorageManager(EngineOptions o, Hypervisor hv, ILogger log)
    {
        _o = o;
        _hv = hv;
        _log = log;
    }

    /// <summary>
    /// Loads pool definitions and marks pools active that were active before (their directory
    /// still there), then starts autostart pools. On the very first start (no storage config
    /// dir yet) the 'default' pool at {data}/images is defined, built, started and autostarted,
    /// like the one virt-manager makes at /var/lib/libvirt/images.
    /// </summary>
    internal async Task LoadAsync(CancellationToken ct)
    {
        var firstStart = !Directory.Exists(_o.StorageConfigDir);
        Directory.CreateDirectory(_o.StorageConfigDir);
        Directory.CreateDirectory(_o.StorageAutostartDir);
        Directory.CreateDirectory(_o.StorageRunDir);
        if (firstStart)
        {
            var def = new PoolDef { Name = "default", Uuid = Guid.NewGuid(), TargetPath = _o.DefaultPoolPath, Mode = "0711" };
            DefinitionFiles.Save(_o.PoolConfigFile(def.Name), StorageXml.WritePool(def), "pool 'default'");
            DefinitionFiles.SetAutostart(_o.PoolAutostartLink(def.Name), _o.PoolConfigFile(def.Name), true);
        }
        foreach (var file in Directory.EnumerateFiles(_o.StorageConfigDir, "*.xml"))
        {
            try
            {
                var def = StorageXml.ParsePool(await File.ReadAllTextAsync(file, ct));
                _pools[def.Name] = new StoragePool(def) { Autostart = File.Exists(_o.PoolAutostartLink(def.Name)) };
            }
            catch (DefinitionException e)
            {
                Log.BadDefinition(_log, file, e.Message, DefinitionFiles.SetAside(file));
            }
        }
        foreach (var p in _pools.Values)
        {
            var wasActive = File.Exists(_o.PoolStatusFile(p.Name));
            if (!wasActive && !p.Autostart) continue;
            try
            {
                if (p.Autostart && !Directory.Exists(p.Dir)) Build(p);
                if (!Directory.Exists(p.Dir)) { File.Delete(_o.PoolStatusFile(p.Name)); continue; }
                await ActivateAsync(p, ct);
            }
            catch (Exception e) when (e is VireoException or IOException or UnauthorizedAccessException)
            {
                Log.PoolStartFailed(_log, p.Name, e.Message);
            }
        }
    }

    public IReadOnlyList<StoragePool> All() => _pools.Values.OrderBy(p => p.Name, StringComparer.Ordinal).ToList();

    /// <summary>Route values keep an escaped '/' (%2F) as it came; names never hold '%', so undo it to judge the real name.</summary>
    private static string Unescape(string s) => s.Contains('%') ? Uri.UnescapeDataString(s) : s;

    public StoragePool Get(string nameOrUuid)
    {
        nameOrUuid = Unescape(nameOrUuid);
        if (_pools.TryGetValue(nameOrUuid, out var p)) return p;
        if (Guid.TryParse(nameOrUuid, out var g) && _pools.Values.FirstOrDefault(x => x.Uuid == g) is { } byUuid) return byUuid;
        throw new VireoException(ErrorCode.NotFound, $"Storage pool not found: no pool with matching name '{nameOrUuid}'. 'vireo pool-list --all' shows the pools.");
    }

    public StoragePool GetActive(string name)
    {
        var p = Get(name);
        if (!p.IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Storage pool '{p.Name}' is not active; start it with 'vireo pool-start {p.Name}'.");
        return p;
    }

    public (StoragePool Pool, bool Created) Define(string xml)
    {
        lock (_defineLock)
        {
            PoolDef def;
            bool uuidGiven;
            try { def = StorageRules.ParsePoolForDefine(xml, _pools.Values.Select(p => p.Def).ToList(), out uuidGiven); }
            catch (DefinitionException e) { throw VireoException.Invalid(e); }
            if (_pools.Values.FirstOrDefault(p => p.Uuid == def.Uuid && p.Name != def.Name) is { } sameUuid)
                throw new VireoException(ErrorCode.InvalidOperation, $"Pool '{sameUuid.Name}' already has uuid {def.Uuid}; remove the <uuid> to get a new one.");
            if (_pools.TryGetValue(def.Name, out var existing))
            {
                if (uuidGiven && def.Uuid != existing.Uuid)
                    throw new VireoException(ErrorCode.InvalidOperation, $"Pool '{def.Name}' already exists with uuid {existing.Uuid}; undefine it first or use another name.");
                if (existing.IsActive && def.TargetPath != existing.Dir)
                    throw new VireoException(ErrorCode.InvalidOperation, $"Pool '{def.Name}' is active at {existing.Dir}; destroy it before moving it to {def.TargetPath}.");
                def.Uuid = existing.Uuid;
            }
            DefinitionFiles.Save(_o.PoolConfigFile(def.Name), StorageXml.WritePool(def), $"pool '{def.Name}'");
            if (existing is not null)
            {
                existing.Def = def;
                Publish(def.Name, "Defined");
                return (existing, false);
            }
            var pool = new StoragePool(def);
            _pools[def.Name] = pool;
            Publish(def.Name, "Defined");
            return (pool, true);
        }
    }

    public void Undefine(string name)
    {
        lock (_defineLock)
        {
            var p = Get(name);
            if (p.IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Storage pool '{p.Name}' is still active; run 'vireo pool-destroy {p.Name}' first (its files stay).");
            File.Delete(_o.PoolAutostartLink(p.Name));
            File.Delete(_o.PoolConfigFile(p.Name));
            _pools.TryRemove(p.Name, out _);
            Publish(p.Name, "Undefined");
        }
    }

    /// <summary>pool-delete: removes an inactive pool's directory, which must be empty (libvirt's dir pools do the same); the definition stays.</summary>
    public void DeleteStorage(string name)
    {
        lock (_defineLock)
        {
            var p = Get(name);
            if (p.IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Storage pool '{p.Name}' is active; run 'vireo pool-destroy {p.Name}' before deleting its directory.");
            if (!Directory.Exists(p.Dir)) return;
            if (Directory.EnumerateFileSystemEntries(p.Dir).Any())
                throw new VireoException(ErrorCode.InvalidOperation, $"Storage pool '{p.Name}': {p.Dir} is not empty; delete its volumes first (vol-delete), its files are never removed with the pool.");
            try { Directory.Delete(p.Dir); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot delete {p.Dir} of pool '{p.Name}': {e.Message}");
            }
            Publish(p.Name, "Deleted");
        }
    }

    /// <summary>A volume definition (libvirt's &lt;volume&gt; XML), its problems as the error's details.</summary>
    public static VolumeDef ParseVolume(string xml)
    {
        try { return StorageXml.ParseVolume(xml); }
        catch (DefinitionException e) { throw new VireoException(ErrorCode.InvalidArgument, e.Message, e.Problems.Select(x => x.ToString()).ToList()); }
    }

    /// <summary>pool-build: makes the directory with the pool's permissions. An existing one is kept as it is.</summary>
    public void Build(string name)
    {
        var p = Get(name);
        var existed = Directory.Exists(p.Dir);
        Build(p);
        if (!existed) Publish(p.Name, "Created");
    }

    /// <summary>Pool events (virsh pool-event): lifecycle (Defined, Undefined, Started, Stopped, Created, Deleted) and Refreshed.</summary>
    private void Publish(string pool, string ev) => _hv.Events.Publish(pool, ev, "", ev == "Refreshed" ? "pool-refresh" : "pool");

    private static void Build(StoragePool p)
    {
        if (Directory.Exists(p.Dir)) return;
        try
        {
            Directory.CreateDirectory(p.Dir);
            var mode = Convert.ToInt32(p.Def.Mode ?? "0711", 8);
            File.SetUnixFileMode(p.Dir, (UnixFileMode)mode);
            if (p.Def.Owner is not null || p.Def.Group is not null)
                FileSys.Chown(p.Dir, p.Def.Owner ?? -1, p.Def.Group ?? -1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VireoException(ErrorCode.OperationFailed, $"Cannot build pool '{p.Name}' at {p.Dir}: {e.Message}");
        }
    }

    public async Task StartAsync(string name, CancellationToken ct)
    {
        var p = Get(name);
        await p.Op.WaitAsync(ct);
        try
        {
            if (p.IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Storage pool '{p.Name}' is already active.");
            if (!Directory.Exists(p.Dir))
                throw new VireoException(ErrorCode.InvalidOperation, $"The directory {p.Dir} of pool '{p.Name}' does not exist; create it with 'vireo pool-build {p.Name}'.");
            await ActivateAsync(p, ct);
        }
        finally { p.Op.Release(); }
        Publish(p.Name, "Started");
    }

    private async Task ActivateAsync(StoragePool p, CancellationToken ct)
    {
        await p.RefreshAsync(ct);
        AtomicFile.Write(_o.PoolStatusFile(p.Name), StorageXml.WritePool(p.Def));
        p.IsActive = true;
    }

    /// <summary>pool-destroy: the pool stops being managed; its directory and files stay.</summary>
    public async Task DestroyAsync(string name, CancellationToken ct)
    {
        var p = Get(name);
        await p.Op.WaitAsync(ct);
        try
        {
            if (!p.IsActive) throw new VireoException(ErrorCode.InvalidOperation, $"Storage pool '{p.Name}' is not active.");
            File.Delete(_o.PoolStatusFile(p.Name));
            p.IsActive = false;
            p.Clear();
        }
        finally { p.Op.Release(); }
        Publish(p.Name, "Stopped");
    }

    public async Task RefreshAsync(string name, CancellationToken ct)
    {
        var p = GetActive(name);
        await p.Op.WaitAsync(ct);
        try { await p.RefreshAsync(ct); }
        finally { p.Op.Release(); }
        Publish(p.Name, "Refreshed");
    }

    public void SetAutostart(string name, bool on)
    {
        var p = Get(name);
        DefinitionFiles.SetAutostart(_o.PoolAutostartLink(p.Name), _o.PoolConfigFile(p.Name), on);
        p.Autostart = on;
    }

    /// <summary>Capacity, allocation and free space of the filesystem holding the pool (what libvirt reports for dir pools).</summary>
    public static (ulong Capacity, ulong Allocation, ulong Available) Space(StoragePool p)
    {
        if (!p.IsActive || !Directory.Exists(p.Dir)) return (0, 0, 0);
        var s = FileSys.StatVfs(p.Dir);
        return (s.Blocks * s.FragmentSize, (s.Blocks - s.Free) * s.FragmentSize, s.Available * s.FragmentSize);
    }

    // ---- volumes ----

    public VolumeState GetVolume(string pool, string name)
    {
        var p = GetActive(pool);
        name = Unescape(name);
        if (StorageRules.VolumeNameProblem(name) is { } problem) throw new VireoException(ErrorCode.InvalidArgument, problem);
        return p.Find(name) ?? throw new VireoException(ErrorCode.NotFound,
            $"Storage volume not found: no volume with matching name '{name}' in pool '{p.Name}'. 'vireo vol-list {p.Name}' shows its volumes.");
    }

    /// <summary>The pool volume at a path (vol-info /path/to/file), or null.</summary>
    public VolumeState? FindByPath(string path)
    {
        var full = Path.GetFullPath(path);
        foreach (var p in _pools.Values.Where(p => p.IsActive))
            if (Path.GetDirectoryName(full) == p.Dir && p.Find(Path.GetFileName(full)) is { } v) return v;
        return null;
    }

    /// <summary>vol-create-as / vol-create: a new empty image, or a qcow2 overlay on a backing volume (linked clone).</summary>
    public async Task<VolumeState> CreateAsync(string pool, VolumeDef v, Prealloc? prealloc, CancellationToken ct)
    {
        var p = GetActive(pool);
        if (StorageRules.VolumeNameProblem(v.Name) is { } problem) throw new VireoException(ErrorCode.InvalidArgument, problem);
        if (v.Format is not ("raw" or "qcow2"))
            throw new VireoException(ErrorCode.InvalidArgument, $"Cannot create a volume of format '{v.Format}'; create raw or qcow2 volumes (other formats come in with vol-upload or vireo import).");
        string? backing = null;
        string? backingFormat = null;
        if (v.BackingPath is { } url && IsRemote(url))
        {
            // A remote base (http, https, nbd): QEMU reads it through its own clients.
            ImageInfo info;
            try { info = await QemuImg.InfoAsync(url, ct); }
            catch (CommandException e) { throw new VireoException(ErrorCode.InvalidArgument, $"Cannot read the backing image {url}: {e.Message}"); }
            backing = url;
            backingFormat = v.BackingFormat ?? info.Format;
            if (v.Format != "qcow2") throw new VireoException(ErrorCode.InvalidArgument, $"A volume with a backing volume must be qcow2, not {v.Format}.");
            if (v.Capacity == 0) v.Capacity = info.VirtualSize;
            else if (v.Capacity < info.VirtualSize)
                throw new VireoException(ErrorCode.InvalidArgument, $"Capacity {v.Capacity} bytes is smaller than the backing image's {info.VirtualSize}; a linked clone is at least as large as its base.");
        }
        else if (v.BackingPath is not null)
        {
            var b = ResolveBacking(v.BackingPath, p);
            backing = b.Path;
            backingFormat = v.BackingFormat ?? (b.Format == "iso" ? "raw" : b.Format);
            if (v.Format != "qcow2") throw new VireoException(ErrorCode.InvalidArgument, $"A volume with a backing volume must be qcow2, not {v.Format}.");
            if (v.Capacity == 0) v.Capacity = b.Capacity;
            else if (v.Capacity < b.Capacity)
                throw new VireoException(ErrorCode.InvalidArgument, $"Capacity {v.Capacity} bytes is smaller than the backing volume's {b.Capacity}; a linked clone is at least as large as its base.");
        }
        else if (v.Capacity == 0 && v.Format == "qcow2")
            throw new VireoException(ErrorCode.InvalidArgument, "A qcow2 volume needs a capacity larger than 0.");
        if (v.Allocation > v.Capacity)
            throw new VireoException(ErrorCode.InvalidArgument, $"Allocation {v.Allocation} bytes is larger than the capacity {v.Capacity} bytes.");
        var mode = prealloc ?? (v.Allocation is { } a && a == v.Capacity && v.Capacity > 0 ? Prealloc.Falloc : Prealloc.Off);
        if (mode == Prealloc.Metadata && v.Format == "raw")
            throw new VireoException(ErrorCode.InvalidArgument, "Preallocation 'metadata' needs a qcow2 volume; a raw image has no metadata (use falloc or full).");
        if (backing is not null && mode is not Prealloc.Off and not Prealloc.Metadata)
            throw new VireoException(ErrorCode.InvalidArgument, $"Preallocation '{mode.ToString().ToLowerInvariant()}' would fill a linked clone with zeros that hide its backing volume; use off or metadata.");

        await p.Op.WaitAsync(ct);
        var path = Path.Combine(p.Dir, v.Name);
        try
        {
            if (File.Exists(path) || Directory.Exists(path))
                throw new VireoException(ErrorCode.InvalidOperation, $"Storage volume '{v.Name}' already exists in pool '{p.Name}' ({path}).");
            try
            {
                if (v.Format == "raw" && mode == Prealloc.Off && v.Allocation is { } part && part > 0)
                {
                    // Part of a raw file allocated up front, the rest sparse (libvirt's <allocation>).
                    using (new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, PreallocationSize = (long)part })) { }
                    using var f = new FileStream(path, FileMode.Open, FileAccess.Write);
                    f.SetLength((long)v.Capacity);
                }
                else
                {
                    var opts = new List<string>();
                    if (v.Format == "qcow2" && v.Compat is not null) opts.Add($"compat={v.Compat}");
                    if (v.Format == "qcow2" && v.LazyRefcounts) opts.Add("lazy_refcounts=on");
                    await QemuImg.CreateAsync(path, v.Format, v.Capacity, backing, backingFormat,
                        mode == Prealloc.Off ? null : mode.ToString().ToLowerInvariant(), ct, opts.Count == 0 ? null : string.Join(',', opts));
                }
                if (v.Mode is { } m) File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(m, 8));
            }
            catch (Exception e) when (e is CommandException or IOException)
            {
                TryDelete(path);
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot create volume '{v.Name}' in pool '{p.Name}': {e.Message}");
            }
            return await RemeasureAsync(p, path, ct);
        }
        finally { p.Op.Release(); }
    }

    /// <summary>vol-clone / vol-create-from: a full copy (qemu-img convert), in the source's format unless told.</summary>
    /// <param name="reflink">A copy-on-write copy of the file (FICLONE) instead of qemu-img convert; same format only.</param>
    public async Task<VolumeState> CopyAsync(VolumeState source, string pool, string name, string? format, IProgress<double>? progress, CancellationToken ct, bool reflink = false)
    {
        var p = GetActive(pool);
        if (StorageRules.VolumeNameProblem(name) is { } problem) throw new VireoException(ErrorCode.InvalidArgument, problem);
        var target = format ?? (source.Format == "iso" ? "raw" : source.Format);
        if (target is not ("raw" or "qcow2"))
            throw new VireoException(ErrorCode.InvalidArgument, $"Cannot write a volume of format '{target}'; copy into raw or qcow2.");
        await p.Op.WaitAsync(ct);
        var path = Path.Combine(p.Dir, name);
        try
        {
            if (File.Exists(path)) throw new VireoException(ErrorCode.InvalidOperation, $"Storage volume '{name}' already exists in pool '{p.Name}' ({path}).");
            try
            {
                if (reflink)
                {
                    if (target != source.Format && !(source.Format == "iso" && target == "raw"))
                        throw new VireoException(ErrorCode.InvalidArgument, $"A reflink copy keeps the format ({source.Format}); it cannot make {target}.");
                    FileSys.Reflink(source.Path, path);
                    progress?.Report(100);
                }
                else await QemuImg.ConvertAsync(source.Path, source.Format == "iso" ? "raw" : source.Format, path, target, progress, ct);
            }
            catch (Exception e) when (e is CommandException or IOException or OperationCanceledException)
            {
                TryDelete(path);
                if (e is OperationCanceledException) throw;
                throw new VireoException(ErrorCode.OperationFailed, $"Cannot copy '{source.Name}' to '{name}': {e.Message}");
            }
            return await RemeasureAsync(p, path, ct);
        }
        finally { p.Op.Release(); }
    }

    /// <summary>Copies a foreign image (VMDK, VHD(X), VDI, …) into a pool as qcow2 or raw: vireo import.</summary>
    public Task<VolumeState> ImportAsync(string sourcePath, string? sourceFormat, string pool, string name, string format, IProgress<double>? progress, CancellationToken ct) =>
        CopyAsync(new VolumeState("", Path.GetFileName(sourcePath), sourcePath, sourceFormat ?? "raw", 0, 0, 0, null, null), pool, name, format, progress, ct);

    /// <summary>vol-resize's new capacity: the size given, or (with --delta) the volume's grown or shrunk by it.</summary>
    public static ulong ResizeTarget(VolumeState v, ulong capacity, bool delta, bool shrink) =>
        !delta ? capacity
        : !shrink ? v.Capacity + capacity
        : capacity < v.Capacity ? v.Capacity - capacity
        : throw new VireoException(ErrorCode.InvalidArgument, $"Shrinking '{v.Name}' ({v.Capacity} bytes) by {capacity} bytes leaves nothing.");

    public async Task<VolumeState> ResizeAsync(string pool, string name, ulong capacity, bool shrink, CancellationToken ct)
    {
        var v = GetVolume(pool, name);
        var p = GetActive(pool);
        if (v.Format is not ("raw" or "qcow2"))
            throw new VireoException(ErrorCode.InvalidArgument, $"Volume '{v.Name}' is {v.Format}; only raw and qcow2 volumes are resized.");
        if (capacity == v.Capacity) return v;
        if (capacity < v.Capacity && !shrink)
            throw new VireoException(ErrorCode.InvalidArgument,
                $"Volume '{v.Name}' is {v.Capacity} bytes; {capacity} bytes would shrink it and lose what lies past the new end. Add --shrink if that is meant.");
        if (capacity == 0) throw new VireoException(ErrorCode.InvalidArgument, "A volume cannot be resized to 0 bytes.");
        if (UsersOf(v, runningOnly: true) is { Count: > 0 } running)
            throw new VireoException(ErrorCode.InvalidOperation, $"Volume '{v.Name}' is in use by the running domain '{running[0]}'; use 'vireo blockresize' to resize it live.");
        await p.Op.WaitAsync(ct);
        try
        {
            try { await QemuImg.ResizeAsync(v.Path, v.Format, capacity, shrink && capacity < v.Capacity, ct); }
            catch (CommandException e) { throw new VireoException(ErrorCode.OperationFailed, $"Cannot resize volume '{v.Name}': {e.Message}"); }
            return await RemeasureAsync(p, v.Path, ct);
        }
        finally { p.Op.Release(); }
    }

    /// <summary>vol-delete: refused while a defined domain or another volume needs the file, unless forced.</summary>
    public async Task DeleteAsync(string pool, string name, bool force, CancellationToken ct)
    {
        var v = GetVolume(pool, name);
        var p = GetActive(pool);
        var running = UsersOf(v, runningOnly: true);
        if (running.Count > 0)
            throw new VireoException(ErrorCode.InvalidOperation, $"Volume '{v.Name}' is in use by the running domain '{running[0]}'; it cannot be deleted while the guest runs.");
        if (!force)
        {
            var users = UsersOf(v, runningOnly: false);
            if (users.Count > 0)
                throw new VireoException(ErrorCode.InvalidOperation,
                    $"Volume '{v.Name}' is used by domain{(users.Count > 1 ? "s" : "")} {string.Join(", ", users.Select(u => $"'{u}'"))}; detach it first, or add --force to delete it anyway.");
            var dependents = await DependentsAsync(v.Path, ct);
            if (dependents.Count > 0)
                throw new VireoException(ErrorCode.InvalidOperation,
                    $"Volume '{v.Name}' is the backing image of {string.Join(", ", dependents)}; deleting it would break {(dependents.Count > 1 ? "them" : "it")}. Delete those first, or add --force.");
        }
        await p.Op.WaitAsync(ct);
        try
        {
            try { File.Delete(v.Path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new VireoException(ErrorCode.OperationFailed, $"Cannot delete volume '{v.Name}': {e.Message}"); }
            p.Remove(v.Name);
        }
        finally { p.Op.Release(); }
    }

    /// <summary>Why an upload into the volume cannot start, before any data is taken (libvirt's protocol asks before its stream opens).</summary>
    public (VolumeState Volume, StoragePool Pool) CheckUpload(string pool, string name, long offset)
    {
        var v = GetVolume(pool, name);
        var p = GetActive(pool);
        if (offset < 0) throw new VireoException(ErrorCode.InvalidArgument, $"Offset {offset} is negative.");
        if (UsersOf(v, runningOnly: true) is { Count: > 0 } running)
            throw new VireoException(ErrorCode.InvalidOperation, $"Volume '{v.Name}' is in use by the running domain '{running[0]}'; stop it before uploading into the volume.");
        return (v, p);
    }

    /// <summary>vol-upload: writes the stream into the volume from an offset; the file grows as needed.</summary>
    public async Task<VolumeState> UploadAsync(string pool, string name, Stream data, long offset, long? length, CancellationToken ct)
    {
        var (v, p) = CheckUpload(pool, name, offset);
        await p.Op.WaitAsync(ct);
        try
        {
            await using (var f = new FileStream(v.Path, FileMode.Open, FileAccess.Write, FileShare.Read, 1 << 20, useAsync: true))
            {
                f.Position = offset;
                var buf = new byte[1 << 20];
                var left = length ?? long.MaxValue;
                while (left > 0)
                {
                    var n = await data.ReadAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, left)), ct);
                    if (n == 0) break;
                    await f.WriteAsync(buf.AsMemory(0, n), ct);
                    left -= n;
                }
                await f.FlushAsync(ct);
            }
            return await RemeasureAsync(p, v.Path, ct);
        }
        finally { p.Op.Release(); }
    }

    /// <summary>vol-download: the volume's file positioned at an offset, and how many bytes to read from there (at most length).</summary>
    public (FileStream Data, long Count) OpenRead(string pool, string name, long offset, long? length)
    {
        var v = GetVolume(pool, name);
        GetActive(pool);
        if (offset < 0) throw new VireoException(ErrorCode.InvalidArgument, $"Offset {offset} is negative.");
        var f = new FileStream(v.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20, useAsync: true);
        var start = Math.Min(offset, f.Length);
        f.Position = start;
        return (f, Math.Min(length ?? long.MaxValue, f.Length - start));
    }

    private async Task<VolumeState> RemeasureAsync(StoragePool p, string path, CancellationToken ct)
    {
        var v = await StoragePool.MeasureAsync(p.Name, path, ct)
            ?? throw new VireoException(ErrorCode.OperationFailed, $"qemu-img cannot read {path} after writing it.");
        p.Set(v);
        return v;
    }

    private static bool IsRemote(string path) => path.StartsWith("http://", StringComparison.Ordinal) || path.StartsWith("https://", StringComparison.Ordinal) || path.StartsWith("nbd://", StringComparison.Ordinal);

    private VolumeState ResolveBacking(string nameOrPath, StoragePool defaultPool)
    {
        if (nameOrPath.StartsWith('/'))
            return FindByPath(nameOrPath) ?? throw new VireoException(ErrorCode.NotFound, $"Backing volume {nameOrPath} is not a volume of an active pool; put it in a pool (or refresh the pool) first.");
        return defaultPool.Find(nameOrPath) ?? throw new VireoException(ErrorCode.NotFound, $"Backing volume '{nameOrPath}' not found in pool '{defaultPool.Name}'.");
    }

    /// <summary>Domains whose definition (or running configuration) names this volume, by pool/name or by path.</summary>
    public List<string> UsersOf(VolumeState v, bool runningOnly)
    {
        var users = new List<string>();
        foreach (var vm in _hv.All())
        {
            var defs = runningOnly ? [vm.Live] : new[] { vm.Def, vm.Live };
            if (defs.OfType<DomainDef>().Any(d => d.Devices.Disks.Any(disk => Names(disk, v)))) users.Add(vm.Name);
        }
        return users;
    }

    private static bool Names(DiskDef disk, VolumeState v) =>
        disk.Type == "volume" ? disk.SourcePool == v.Pool && disk.SourceVolume == v.Name
        : disk.Source is { } s && Path.GetFullPath(s) == v.Path;

    /// <summary>Images whose backing chain holds this file: pool volumes, and domain disks outside pools.</summary>
    private async Task<List<string>> DependentsAsync(string path, CancellationToken ct)
    {
        var found = new List<string>();
        foreach (var p in _pools.Values.Where(p => p.IsActive))
            foreach (var other in p.Volumes())
                if (other.BackingPath is { } b && SamePath(b, path, p.Dir)) found.Add($"volume '{other.Name}' of pool '{p.Name}'");
        foreach (var vm in _hv.All())
        {
            foreach (var disk in vm.Def.Devices.Disks.Where(d => d.Type == "file" && d.Source is not null && d.Format == "qcow2" && FindByPath(d.Source!) is null))
            {
                if (!File.Exists(disk.Source)) continue;
                try
                {
                    var chain = await QemuImg.ChainAsync(disk.Source!, ct);
                    if (chain.Skip(1).Any(i => SamePath(i.Filename, path, Path.GetDirectoryName(disk.Source)!)))
                        found.Add($"disk {disk.TargetDev} of domain '{vm.Name}' ({disk.Source})");
                }
                catch (CommandException) { }
            }
        }
        return found;
    }

    private static bool SamePath(string candidate, string path, string relativeTo) =>
        Path.GetFullPath(candidate, relativeTo) == path;

    /// <summary>The path and format a disk of type='volume' stands for; errors name the pool or volume that is missing.</summary>
    public (string Path, string Format) Resolve(DiskDef disk)
    {
        var p = Get(disk.SourcePool!);
        if (!p.IsActive)
            throw new VireoException(ErrorCode.InvalidOperation, $"Disk '{disk.TargetDev}' uses pool '{p.Name}', which is not active; start it with 'vireo pool-start {p.Name}'.");
        var v = p.Find(disk.SourceVolume!) ?? throw new VireoException(ErrorCode.NotFound,
            $"Disk '{disk.TargetDev}' uses volume '{disk.SourceVolume}', which pool '{p.Name}' does not have.");
        return (v.Path, disk.Format ?? (v.Format == "iso" ? "raw" : v.Format));
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { }
    }
}
