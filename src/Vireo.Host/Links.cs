using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Win32.SafeHandles;

namespace Vireo.Host;

/// <summary>Something the kernel refused while links were set up; the message names the link and the call.</summary>
public sealed class LinkException(string message) : Exception(message);

/// <summary>
/// Network links of the daemon's network namespace. Per-guest work (taps, their MAC, MTU,
/// bridge port) uses ioctls: no process per NIC. Rarer, richer work (bridges, addresses,
/// routes, macvtaps) goes through iproute2 in one batch, which is what an administrator would
/// type and keeps netlink encoding out of this code base.
/// </summary>
public static class Links
{
    private const string Ip = "/usr/sbin/ip";

    /// <summary>
    /// Creates a tap with TUNSETIFF (vnet%d lets the kernel pick the lowest free number) and
    /// returns its fd and name. The tap is not persistent: it disappears when the last fd
    /// (QEMU's) closes, so a guest that stops or crashes leaves no tap behind.
    /// </summary>
    public static unsafe (SafeFileHandle Fd, string Name) CreateTap(string template, bool vnetHdr = true)
    {
        var fd = Native.open("/dev/net/tun", Native.O_RDWR | Native.O_CLOEXEC, 0);
        if (fd < 0) throw new LinkException($"Cannot open /dev/net/tun: {NetNative.LastError()}. Is the tun module loaded?");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        var req = Req(template);
        *(short*)req.Data = (short)(NetNative.IFF_TAP | NetNative.IFF_NO_PI | (vnetHdr ? NetNative.IFF_VNET_HDR : 0));
        if (NetNative.ioctl(fd, NetNative.TUNSETIFF, &req) != 0)
        {
            var err = NetNative.LastError();
            handle.Dispose();
            throw new LinkException($"Cannot create tap '{template}': {err}.");
        }
        return (handle, NameOf(req));
    }

    public static bool Exists(string name) => NetNative.if_nametoindex(name) != 0;

    public static int IfIndex(string name)
    {
        var i = NetNative.if_nametoindex(name);
        if (i == 0) throw new LinkException($"Interface '{name}' does not exist.");
        return (int)i;
    }

    /// <summary>Sets the link's MAC (taps get the guest MAC with a 0xfe first octet, as libvirt does, so the bridge never takes the guest's address).</summary>
    public static unsafe void SetMac(string name, string mac)
    {
        var req = Req(name);
        *(ushort*)req.Data = 1; // ARPHRD_ETHER
        var bytes = mac.Split(':').Select(x => byte.Parse(x, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
        for (int i = 0; i < 6; i++) req.Data[2 + i] = bytes[i];
        Ioctl(NetNative.SIOCSIFHWADDR, ref req, $"set the MAC of '{name}' to {mac}");
    }

    public static unsafe int GetMtu(string name)
    {
        var req = Req(name);
        Ioctl(NetNative.SIOCGIFMTU, ref req, $"read the MTU of '{name}'");
        return *(int*)req.Data;
    }

    public static unsafe void SetMtu(string name, int mtu)
    {
        var req = Req(name);
        *(int*)req.Data = mtu;
        Ioctl(NetNative.SIOCSIFMTU, ref req, $"set the MTU of '{name}' to {mtu}");
    }

    public static unsafe void SetUp(string name)
    {
        var req = Req(name);
        Ioctl(NetNative.SIOCGIFFLAGS, ref req, $"read the flags of '{name}'");
        *(short*)req.Data |= NetNative.IFF_UP;
        Ioctl(NetNative.SIOCSIFFLAGS, ref req, $"bring '{name}' up");
    }

    public static unsafe void AddToBridge(string bridge, string port)
    {
        var req = Req(bridge);
        *(int*)req.Data = IfIndex(port);
        Ioctl(NetNative.SIOCBRADDIF, ref req, $"add '{port}' to bridge '{bridge}'");
    }

    public static bool IsBridge(string name) =>
        Directory.Exists($"/sys/class/net/{name}/bridge") || Exists(name) && LinkKind(name) == "bridge";

    /// <summary>The kind of a link as iproute2 names it (bridge, veth, macvtap, tun), or "" for a plain device.</summary>
    public static string LinkKind(string name)
    {
        var r = Exec.RunAsync(Ip, ["-d", "-j", "link", "show", "dev", name]).GetAwaiter().GetResult();
        if (!r.Ok) return "";
        return JsonNode.Parse(r.Stdout)?[0]?["linkinfo"]?["info_kind"]?.GetValue<string>() ?? "";
    }

    /// <summary>
    /// Takes a bridge down and deletes it (SIOCBRDELBR, no process); ports are released, so
    /// guests' taps stay. Falls back to ip when the ioctl is refused. Missing is fine.
    /// </summary>
    public static async Task DeleteBridgeAsync(string name, CancellationToken ct = default)
    {
        if (!Exists(name)) return;
        if (TryDeleteBridgeIoctl(name)) return;
        await DeleteAsync([name], ct);
    }

    private static unsafe bool TryDeleteBridgeIoctl(string name)
    {
        try
        {
            var req = Req(name);
            Ioctl(NetNative.SIOCGIFFLAGS, ref req, $"read the flags of '{name}'");
            *(short*)req.Data &= ~NetNative.IFF_UP;
            Ioctl(NetNative.SIOCSIFFLAGS, ref req, $"take '{name}' down");
            var bytes = new byte[16];
            Encoding.ASCII.GetBytes(name, bytes);
            fixed (byte* p = bytes)
                return NetNative.ioctl(CtlSocket.Value, NetNative.SIOCBRDELBR, p) == 0;
        }
        catch (LinkException)
        {
            return false;
        }
    }

    /// <summary>Runs iproute2 commands in one process (ip -batch); the error names the failing command.</summary>
    /// <param name="force">Go on past failing commands (undo and cleanup, where some steps may be done already).</param>
    public static async Task BatchAsync(IEnumerable<string> commands, CancellationToken ct = default, bool force = false)
    {
        var text = string.Join('\n', commands) + "\n";
        var r = await Exec.RunAsync(Ip, force ? ["-force", "-batch", "-"] : ["-batch", "-"], ct, stdin: text);
        if (!r.Ok)
            throw new LinkException($"ip failed: {r.Stderr.Trim().Replace("\n", "; ")}");
    }

    /// <summary>Deletes links that exist, ignoring ones already gone (a crash half-way leaves either).</summary>
    public static async Task DeleteAsync(IEnumerable<string> names, CancellationToken ct = default)
    {
        var present = names.Where(Exists).ToList();
        if (present.Count == 0) return;
        try { await BatchAsync(present.Select(n => $"link del dev {n}"), ct, force: true); }
        catch (LinkException) { } // gone in the meantime

    }

    public static async Task<JsonArray> QueryAsync(IEnumerable<string> args, CancellationToken ct = default)
    {
        var r = await Exec.RunAsync(Ip, ["-j", .. args], ct);
        if (!r.Ok) throw new LinkException($"ip {string.Join(' ', args)} failed: {r.Stderr.Trim()}");
        return string.IsNullOrWhiteSpace(r.Stdout) ? [] : JsonNode.Parse(r.Stdout)!.AsArray();
    }

    /// <summary>Opens a macvtap's character device. udev makes /dev/tapN on most hosts; without it, a node is made in privateDir from sysfs.</summary>
    public static SafeFileHandle OpenMacvtap(string name, string privateDir)
    {
        var index = IfIndex(name);
        var path = $"/dev/tap{index}";
        var made = false;
        if (!File.Exists(path))
        {
            var devFile = $"/sys/class/net/{name}/macvtap/tap{index}/dev";
            string devText;
            try { devText = File.ReadAllText(devFile).Trim(); }
            catch (IOException e) { throw new LinkException($"Cannot find the character device of macvtap '{name}' ({devFile}): {e.Message}"); }
            var parts = devText.Split(':');
            ulong major = ulong.Parse(parts[0], CultureInfo.InvariantCulture), minor = ulong.Parse(parts[1], CultureInfo.InvariantCulture);
            ulong dev = (major & 0xfff) << 8 | (major & ~0xfffUL) << 32 | (minor & 0xff) | (minor & ~0xffUL) << 12;
            Directory.CreateDirectory(privateDir);
            path = Path.Combine(privateDir, $"tap{index}");
            File.Delete(path);
            if (NetNative.mknod(path, 0x2000 | 0x180 /* S_IFCHR | 0600 */, dev) != 0)
                throw new LinkException($"Cannot make the device node {path} for macvtap '{name}': {NetNative.LastError()}.");
            made = true;
        }
        try
        {
            var fd = Native.open(path, Native.O_RDWR | Native.O_CLOEXEC, 0);
            if (fd < 0) throw new LinkException($"Cannot open {path} for macvtap '{name}': {NetNative.LastError()}.");
            return new SafeFileHandle(fd, ownsHandle: true);
        }
        finally
        {
            if (made) File.Delete(path);
        }
    }

    /// <summary>The lowest free name of the form prefixN (macvtapN), like the kernel's %d.</summary>
    public static string FreeName(string prefix)
    {
        for (int i = 0; ; i++)
            if (!Exists($"{prefix}{i}")) return $"{prefix}{i}";
    }

    private static unsafe NetNative.IfReq Req(string name)
    {
        var req = default(NetNative.IfReq);
        var bytes = Encoding.ASCII.GetBytes(name);
        if (bytes.Length > 15) throw new LinkException($"Interface name '{name}' is longer than 15 characters.");
        for (int i = 0; i < bytes.Length; i++) req.Name[i] = bytes[i];
        return req;
    }

    private static unsafe string NameOf(NetNative.IfReq req)
    {
        var span = new ReadOnlySpan<byte>(req.Name, 16);
        var end = span.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? span : span[..end]);
    }

    private static readonly Lazy<int> CtlSocket = new(() =>
    {
        var s = NetNative.socket(NetNative.AF_INET, NetNative.SOCK_DGRAM | NetNative.SOCK_CLOEXEC, 0);
        if (s < 0) throw new LinkException($"Cannot open a socket for interface ioctls: {NetNative.LastError()}.");
        return s;
    });

    private static unsafe void Ioctl(ulong request, ref NetNative.IfReq req, string what)
    {
        fixed (NetNative.IfReq* p = &req)
        {
            if (NetNative.ioctl(CtlSocket.Value, request, p) != 0)
                throw new LinkException($"Cannot {what}: {NetNative.LastError()}.");
        }
    }
}
