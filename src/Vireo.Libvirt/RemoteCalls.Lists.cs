namespace Vireo.Libvirt;

/// <summary>
/// The older listing calls (counts, and names or ids up to a maximum), which clients still use
/// to probe what a connection supports: virt-manager decides from virConnectListNetworks whether
/// the host has networks at all, and virsh falls back to them.
/// </summary>
internal sealed partial class RemoteCalls
{
    private const int ListMax = 16384; // REMOTE_*_LIST_MAX

    private bool ListCall(Proc proc, XdrReader a, XdrWriter r)
    {
        switch (proc)
        {
            case Proc.ConnectNumOfDomains:
                r.Int(hv.All().Count(v => v.IsActive));
                return true;
            case Proc.ConnectListDomains:
                r.Array(Take(a, hv.All().Where(v => v.IsActive).Select(v => v.Id ?? 0).Order()), (w, id) => w.Int(id));
                return true;
            case Proc.ConnectNumOfDefinedDomains:
                r.Int(hv.All().Count(v => !v.IsActive));
                return true;
            case Proc.ConnectListDefinedDomains:
                Names(a, r, hv.All().Where(v => !v.IsActive).Select(v => v.Name));
                return true;
            case Proc.ConnectNumOfNetworks:
                r.Int(hv.Networks.All().Count(n => n.IsActive));
                return true;
            case Proc.ConnectListNetworks:
                Names(a, r, hv.Networks.All().Where(n => n.IsActive).Select(n => n.Name));
                return true;
            case Proc.ConnectNumOfDefinedNetworks:
                r.Int(hv.Networks.All().Count(n => !n.IsActive));
                return true;
            case Proc.ConnectListDefinedNetworks:
                Names(a, r, hv.Networks.All().Where(n => !n.IsActive).Select(n => n.Name));
                return true;
            case Proc.ConnectNumOfStoragePools:
                r.Int(hv.Storage.All().Count(p => p.IsActive));
                return true;
            case Proc.ConnectListStoragePools:
                Names(a, r, hv.Storage.All().Where(p => p.IsActive).Select(p => p.Name));
                return true;
            case Proc.ConnectNumOfDefinedStoragePools:
                r.Int(hv.Storage.All().Count(p => !p.IsActive));
                return true;
            case Proc.ConnectListDefinedStoragePools:
                Names(a, r, hv.Storage.All().Where(p => !p.IsActive).Select(p => p.Name));
                return true;
            case Proc.StoragePoolNumOfVolumes:
            {
                var p = StoragePool(a);
                r.Int(p.IsActive ? p.Volumes().Count : throw PoolNotActive(p.Name));
                return true;
            }
            case Proc.StoragePoolListVolumes:
            {
                var p = StoragePool(a);
                if (!p.IsActive) throw PoolNotActive(p.Name);
                Names(a, r, p.Volumes().Select(v => v.Name));
                return true;
            }
            default:
                return false;
        }
    }

    private static RpcError PoolNotActive(string name) =>
        new(VirErrorCode.OperationInvalid, $"Requested operation is not valid: storage pool '{name}' is not active", VirErrorDomain.Storage);

    /// <summary>The maximum the client asked for (refused past libvirt's limit, as libvirtd does), then that many.</summary>
    private static List<T> Take<T>(XdrReader a, IEnumerable<T> items)
    {
        var max = a.Int();
        if (max is < 0 or > ListMax) throw new RpcError(VirErrorCode.Rpc, $"RPC error: maximum {max} is beyond the limit of {ListMax}", VirErrorDomain.Rpc);
        return items.Take(max).ToList();
    }

    private static void Names(XdrReader a, XdrWriter r, IEnumerable<string> names) =>
        r.Array(Take(a, names.Order(StringComparer.Ordinal)), (w, n) => w.String(n));
}
