using System.Buffers.Binary;
using System.Net.Sockets;

namespace Vireo.Host;

/// <summary>
/// Who is at the other end of a unix socket, as the kernel says (SO_PEERCRED), not as the
/// client claims: the process, user and group that connected.
/// </summary>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid)
{
    private const int SolSocket = 1, SoPeerCred = 17;

    /// <summary>The peer of a connected unix socket (struct ucred: pid, uid, gid).</summary>
    public static PeerCredentials Of(Socket socket)
    {
        Span<byte> ucred = stackalloc byte[12];
        if (socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred) != 12)
            throw new SocketException((int)SocketError.ProtocolNotSupported);
        return new PeerCredentials(BinaryPrimitives.ReadInt32LittleEndian(ucred), BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..]),
            BinaryPrimitives.ReadUInt32LittleEndian(ucred[8..]));
    }

    /// <summary>Whether the peer has <paramref name="gid"/> as its group or one of its supplementary groups (/proc/PID/status).</summary>
    public bool InGroup(int gid)
    {
        if (Gid == (uint)gid) return true;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Pid}/status"))
                if (line.StartsWith("Groups:", StringComparison.Ordinal))
                    return line[7..].Split(' ', '\t', StringSplitOptions.RemoveEmptyEntries).Contains(gid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (IOException) { }
        return false;
    }

    /// <summary>The user this process runs as (geteuid).</summary>
    public static uint EffectiveUid => Native.geteuid();
}
