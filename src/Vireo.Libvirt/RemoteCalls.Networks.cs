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

            case Proc.NetworkGetDhcpLeases:
            {
                var n = Network(a);
                var mac = a.OptString();
                var need = a.Int() != 0;
                CheckFlags(a.UInt(), 0, "virNetworkGetDHCPLeases");
                var bridge = (n.Live ?? n.Def).BridgeName ?? "";
                var leases = n.ActiveLeases(mac, DateTimeOffset.UtcNow);
                // Expiry in seconds since the epoch, 0 for a lease that never expires; type 0 IPv4, 1 IPv6.
                if (need)
                    r.Array(leases, (w, l) => w.String(bridge).Hyper(l.Expiry == DateTimeOffset.MaxValue ? 0 : l.Expiry.ToUnixTimeSeconds()).Int(l.V6 ? 1 : 0)
                        .OptString(l.Mac).OptString(null).String(l.Ip.ToString()).UInt((uint)l.Prefix).OptString(l.Hostname).OptString(l.ClientId));
                else r.UInt(0);
                r.UInt((uint)leases.Count);
                break;
            }
            case Proc.NetworkUpdate:
            {
                var n = Network(a);
                var command = a.UInt();
                var section = a.UInt();
                a.Int(); // parentIndex: which <ip> — Vireo's networks have one per family
                var xml = a.String();
                var flags = CheckFlags(a.UInt(), AffectLive | AffectConfig, "virNetworkUpdate");
                var cmd = command switch
                {
                    1 => "modify", 2 => "delete", 3 => "add-last", 4 => "add-first",
                    _ => throw new RpcError(VirErrorCode.InvalidArg, $"invalid argument: network update command {command}; use modify, delete, add-last or add-first"),
                };
                // virNetworkUpdateSection names; Vireo updates ip-dhcp-host (4) and says so for the others.
                string[] sections = ["none", "bridge", "domain", "ip", "ip-dhcp-host", "ip-dhcp-range", "forward", "forward-interface", "forward-pf", "portgroup", "dns-host", "dns-txt", "dns-srv"];
                await n.UpdateAsync(cmd, section < sections.Length ? sections[section] : $"section {section}", xml, (flags & AffectLive) != 0, (flags & AffectConfig) != 0, ct);
                break;
            }

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
