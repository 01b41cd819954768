using Vireo.Engine;
using Vireo.Model;

namespace Vireo.Libvirt;

/// <summary>Virtual networks: virsh net-*, and what virt-manager and virt-install ask of them.</summary>
internal sealed partial class RemoteCalls
{
    private async Task<StreamWork?> NetworkCallAsync(Proc proc, XdrReader a, XdrWriter r, CancellationToken ct)
    {
        switch (proc)
        {
            case Proc.ConnectListAllNetworks:
                // virConnectListAllNetworksFlags: INACTIVE 1, ACTIVE 2, PERSISTENT 4, TRANSIENT 8, AUTOSTART 16, NO_AUTOSTART 32.
                ListAll(a, r, hv.Networks.All(), (n, f) => Pair(f, 2, 1, n.IsActive) && Pair(f, 4, 8, n.Persistent) && Pair(f, 16, 32, n.Autostart), Net);
                break;
            case Proc.NetworkLookupByName:
                Net(r, FindNetwork(a.String()));
                break;
            case Proc.NetworkLookupByUuid:
                Net(r, FindNetwork(a.Uuid().ToString()));
                break;
            case Proc.NetworkGetXmlDesc:
            {
                var n = Network(a);
                var flags = a.UInt();
                r.String(NetworkXml.Write((flags & 1) != 0 ? n.Def : n.Live ?? n.Def)); // VIR_NETWORK_XML_INACTIVE
                break;
            }
            case Proc.NetworkIsActive:
                r.Int(Network(a).IsActive ? 1 : 0);
                break;
            case Proc.NetworkIsPersistent:
                r.Int(Network(a).Persistent ? 1 : 0);
                break;
            case Proc.NetworkGetAutostart:
                r.Int(Network(a).Autostart ? 1 : 0);
                break;
            case Proc.NetworkSetAutostart:
            {
                var n = Network(a);
                hv.Networks.SetAutostart(n.Name, a.Int() != 0);
                break;
            }
            case Proc.NetworkGetBridgeName:
            {
                var n = Network(a);
                r.String((n.Live ?? n.Def).BridgeName ?? throw new RpcError(VirErrorCode.OperationInvalid, $"Requested operation is not valid: network '{n.Name}' has no bridge", VirErrorDomain.Network));
                break;
            }
            case Proc.NetworkDefineXml:
                Net(r, hv.Networks.Define(a.String()).Network);
                break;
            case Proc.NetworkUndefine:
                hv.Networks.Undefine(Network(a).Name);
                break;
            case Proc.NetworkCreate:
                await Network(a).StartAsync(ct);
                break;
            case Proc.NetworkDestroy:
                await Network(a).DestroyAsync(ct);
                break;

            // Storage pools and volumes
            default:
                return await StorageCallAsync(proc, a, r, ct);
        }
        return null;
    }

    /// <summary>remote_nonnull_network: name, uuid.</summary>
    private static void Net(XdrWriter w, VirtualNetwork n) => w.String(n.Name).FixedOpaque(n.Uuid.ToByteArray(bigEndian: true));

    private VirtualNetwork FindNetwork(string nameOrUuid) =>
        hv.Networks.All().FirstOrDefault(n => n.Name == nameOrUuid || n.Uuid.ToString() == nameOrUuid)
        ?? throw new RpcError(VirErrorCode.NoNetwork, $"Network not found: no network with matching name '{nameOrUuid}'", VirErrorDomain.Network);

    private VirtualNetwork Network(XdrReader a) => Ref(a, hv.Networks.All(), n => n.Uuid, (name, _) => FindNetwork(name));
}
