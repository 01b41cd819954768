using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Libvirt;

/// <summary>Storage pools and volumes: virsh pool-* and vol-*, virt-install's and virt-manager's disk creation.</summary>
internal sealed partial class RemoteCalls
{
    private async Task<StreamWork?> StorageCallAsync(Proc proc, XdrReader a, XdrWriter r, CancellationToken ct)
    {
        switch (proc)
        {
            case Proc.ConnectListAllStoragePools:
                // virConnectListAllStoragePoolsFlags: INACTIVE 1, ACTIVE 2, PERSISTENT 4, TRANSIENT 8, AUTOSTART 16, NO_AUTOSTART 32; the types (64 up) are all dir here.
                ListAll(a, r, hv.Storage.All(), (p, f) => Pair(f, 2, 1, p.IsActive) && Pair(f, 16, 32, p.Autostart) && (f & 8) == 0, Pool);
                break;
            case Proc.StoragePoolLookupByName:
                Pool(r, FindPool(a.String()));
                break;
            case Proc.StoragePoolLookupByUuid:
                Pool(r, FindPool(a.Uuid().ToString()));
                break;
            case Proc.StoragePoolGetInfo:
            {
                var p = StoragePool(a);
                var (cap, alloc, avail) = p.IsActive ? StorageManager.Space(p) : (0, 0, 0);
                r.Int(p.IsActive ? 2 : 0).UHyper(cap).UHyper(alloc).UHyper(avail); // VIR_STORAGE_POOL_RUNNING 2, INACTIVE 0
                break;
            }
            case Proc.StoragePoolGetXmlDesc:
            {
                var p = StoragePool(a);
                var flags = a.UInt();
                r.String(StorageXml.WritePool(p.Def, (flags & 1) != 0 || !p.IsActive ? null : StorageManager.Space(p)));
                break;
            }
            case Proc.StoragePoolIsActive:
                r.Int(StoragePool(a).IsActive ? 1 : 0);
                break;
            case Proc.StoragePoolIsPersistent:
                StoragePool(a);
                r.Int(1);
                break;
            case Proc.StoragePoolGetAutostart:
                r.Int(StoragePool(a).Autostart ? 1 : 0);
                break;
            case Proc.StoragePoolCreate:
            {
                var p = StoragePool(a);
                a.UInt();
                await hv.Storage.StartAsync(p.Name, ct);
                break;
            }
            case Proc.StoragePoolDestroy:
                await hv.Storage.DestroyAsync(StoragePool(a).Name, ct);
                break;
            case Proc.StoragePoolRefresh:
            {
                var p = StoragePool(a);
                a.UInt();
                await hv.Storage.RefreshAsync(p.Name, ct);
                break;
            }
            case Proc.StoragePoolListAllVolumes:
            {
                var p = StoragePool(a);
                var needResults = a.Int() != 0;
                a.UInt();
                var vols = p.IsActive ? p.Volumes() : [];
                if (needResults) r.Array(vols.ToList(), Vol); else r.UInt(0);
                r.UInt((uint)vols.Count);
                break;
            }
            case Proc.StorageVolLookupByName:
            {
                var p = StoragePool(a);
                var name = a.String();
                Vol(r, p.Find(name) ?? throw new RpcError(VirErrorCode.NoStorageVol, $"Storage volume not found: no storage vol with matching name '{name}'", VirErrorDomain.Storage));
                break;
            }
            case Proc.StorageVolLookupByPath:
            {
                var path = a.String();
                Vol(r, hv.Storage.FindByPath(path) ?? throw new RpcError(VirErrorCode.NoStorageVol, $"Storage volume not found: no storage vol with matching path '{path}'", VirErrorDomain.Storage));
                break;
            }
            case Proc.StorageVolGetInfo:
            {
                var v = Volume(a);
                r.Int(0).UHyper(v.Capacity).UHyper(v.Allocation); // VIR_STORAGE_VOL_FILE
                break;
            }
            case Proc.StorageVolGetXmlDesc:
            {
                var v = Volume(a);
                a.UInt();
                r.String(StorageXml.WriteVolume(v.ToDef(), v.Path, v.Allocation, v.Physical));
                break;
            }
            case Proc.StorageVolGetPath:
                r.String(Volume(a).Path);
                break;
            case Proc.StoragePoolDefineXml:
            {
                var xml = a.String();
                CheckFlags(a.UInt(), 1, "virStoragePoolDefineXML"); // VALIDATE: Vireo always validates
                Pool(r, hv.Storage.Define(xml).Pool);
                break;
            }
            case Proc.StoragePoolCreateXml:
                throw new RpcError(VirErrorCode.NoSupport, "this function is not supported by the connection driver: transient storage pools (virStoragePoolCreateXML); define the pool (pool-define) and start it", VirErrorDomain.Storage);
            case Proc.StoragePoolBuild:
            {
                var p = StoragePool(a);
                CheckFlags(a.UInt(), 4 | 8, "virStoragePoolBuild"); // NO_OVERWRITE, OVERWRITE: a directory is made or kept
                hv.Storage.Build(p.Name);
                break;
            }
            case Proc.StoragePoolDelete:
            {
                var p = StoragePool(a);
                CheckFlags(a.UInt(), 0, "virStoragePoolDelete");
                hv.Storage.DeleteStorage(p.Name);
                break;
            }
            case Proc.StoragePoolUndefine:
                hv.Storage.Undefine(StoragePool(a).Name);
                break;
            case Proc.StoragePoolSetAutostart:
            {
                var p = StoragePool(a);
                hv.Storage.SetAutostart(p.Name, a.Int() != 0);
                break;
            }
            case Proc.StoragePoolNumOfVolumes:
            {
                var p = StoragePool(a);
                r.Int(hv.Storage.GetActive(p.Name).Volumes().Count);
                break;
            }
            case Proc.StoragePoolListVolumes:
            {
                var p = StoragePool(a);
                var max = a.Int();
                r.Array(hv.Storage.GetActive(p.Name).Volumes().Take(Math.Max(0, max)).Select(v => v.Name).ToList(), (w, n) => w.String(n));
                break;
            }
            case Proc.StoragePoolLookupByVolume:
            {
                var v = Volume(a);
                Pool(r, FindPool(v.Pool));
                break;
            }
            case Proc.StoragePoolLookupByTargetPath:
            {
                var path = a.String().TrimEnd('/');
                Pool(r, hv.Storage.All().FirstOrDefault(p => p.Dir.TrimEnd('/') == path)
                    ?? throw new RpcError(VirErrorCode.NoStoragePool, $"Storage pool not found: no storage pool with matching target path '{path}'", VirErrorDomain.Storage));
                break;
            }
            case Proc.StorageVolLookupByKey:
            {
                var key = a.String();
                Vol(r, hv.Storage.FindByPath(key) ?? throw new RpcError(VirErrorCode.NoStorageVol, $"Storage volume not found: no storage vol with matching key {key}", VirErrorDomain.Storage));
                break;
            }
            case Proc.StorageVolGetInfoFlags:
            {
                var v = Volume(a);
                var flags = CheckFlags(a.UInt(), 1, "virStorageVolGetInfoFlags"); // GET_PHYSICAL: the file's size instead of its allocation
                r.Int(0).UHyper(v.Capacity).UHyper((flags & 1) != 0 ? v.Physical : v.Allocation);
                break;
            }
            case Proc.StorageVolCreateXml:
            {
                var p = StoragePool(a);
                var def = StorageManager.ParseVolume(a.String());
                // virStorageVolCreateFlags: PREALLOC_METADATA 1, REFLINK 2 (for clones), VALIDATE 4.
                var flags = CheckFlags(a.UInt(), 1 | 4, "virStorageVolCreateXML");
                Vol(r, await hv.Storage.CreateAsync(p.Name, def, (flags & 1) != 0 ? Prealloc.Metadata : null, ct));
                break;
            }
            case Proc.StorageVolCreateXmlFrom:
            {
                var p = StoragePool(a);
                var def = StorageManager.ParseVolume(a.String());
                var source = Volume(a);
                var flags = CheckFlags(a.UInt(), 1 | 2 | 4, "virStorageVolCreateXMLFrom");
                var v = await hv.Storage.CopyAsync(source, p.Name, def.Name, def.Format, null, ct, reflink: (flags & 2) != 0);
                // A larger capacity in the new volume's XML grows the copy, as libvirt's clone does.
                if (def.Capacity > v.Capacity) v = await hv.Storage.ResizeAsync(v.Pool, v.Name, def.Capacity, shrink: false, ct);
                Vol(r, v);
                break;
            }
            case Proc.StorageVolDelete:
            {
                var v = Volume(a);
                CheckFlags(a.UInt(), 0, "virStorageVolDelete"); // ZEROED, WITH_SNAPSHOTS are not offered
                await hv.Storage.DeleteAsync(v.Pool, v.Name, force: false, ct);
                break;
            }
            case Proc.StorageVolResize:
            {
                var v = Volume(a);
                var capacity = a.UHyper();
                // virStorageVolResizeFlags: ALLOCATE 1, DELTA 2, SHRINK 4.
                var flags = CheckFlags(a.UInt(), 1 | 2 | 4, "virStorageVolResize");
                var shrink = (flags & 4) != 0;
                var target = StorageManager.ResizeTarget(v, capacity, delta: (flags & 2) != 0, shrink);
                // The engine refuses this too; libvirt's clients get libvirt's own words for it.
                if (target < v.Capacity && !shrink)
                    throw new RpcError(VirErrorCode.InvalidArg, $"invalid argument: can't shrink capacity below existing capacity unless shrink flag explicitly specified", VirErrorDomain.Storage);
                await hv.Storage.ResizeAsync(v.Pool, v.Name, target, shrink, ct);
                break;
            }
            default:
                return await StreamCallAsync(proc, a, r, ct);
        }
        return null;
    }

    /// <summary>remote_nonnull_storage_pool: name, uuid.</summary>
    private static void Pool(XdrWriter w, StoragePool p) => w.String(p.Name).FixedOpaque(p.Uuid.ToByteArray(bigEndian: true));

    private StoragePool FindPool(string nameOrUuid) =>
        hv.Storage.All().FirstOrDefault(p => p.Name == nameOrUuid || p.Uuid.ToString() == nameOrUuid)
        ?? throw new RpcError(VirErrorCode.NoStoragePool, $"Storage pool not found: no storage pool with matching name '{nameOrUuid}'", VirErrorDomain.Storage);

    private StoragePool StoragePool(XdrReader a) => Ref(a, hv.Storage.All(), p => p.Uuid, (name, _) => FindPool(name));

    /// <summary>remote_nonnull_storage_vol: pool, name, key (the path, as libvirt's dir pools use).</summary>
    private static void Vol(XdrWriter w, VolumeState v) => w.String(v.Pool).String(v.Name).String(v.Path);

    private VolumeState Volume(XdrReader a)
    {
        var pool = a.String();
        var name = a.String();
        a.String();
        try { return hv.Storage.GetVolume(pool, name); }
        catch (VireoException) { throw new RpcError(VirErrorCode.NoStorageVol, $"Storage volume not found: no storage vol with matching name '{name}'", VirErrorDomain.Storage); }
    }
}
