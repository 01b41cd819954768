namespace Vireo.Libvirt;

/// <summary>
/// libvirt's RPC framing (src/rpc/virnetprotocol.x): a 4-byte length that counts itself, a
/// 24-byte header, then the XDR payload. The procedure numbers (<see cref="Proc"/>) are generated
/// from libvirt's src/remote/remote_protocol.x by scripts/libvirt-procedures.sh; the argument and
/// result layouts of the calls Vireo serves are written by hand from the same file.
/// </summary>
public static class Rpc
{
    public const uint RemoteProgram = 0x20008086;
    public const uint QemuProgram = 0x20008087;
    public const uint KeepaliveProgram = 0x6b656570;
    public const uint RemoteVersion = 1;
    public const uint KeepaliveVersion = 1;
    public const int KeepalivePing = 1, KeepalivePong = 2;

    /// <summary>virnetprotocol.x: VIR_NET_MESSAGE_MAX; the initial buffer is 64 KiB, the largest message 32 MiB.</summary>
    public const int MessageMax = 32 << 20;
    public const int HeaderSize = 24;
}

public enum MessageType { Call = 0, Reply = 1, Message = 2, Stream = 3, CallWithFds = 4, ReplyWithFds = 5, StreamHole = 6 }

public enum MessageStatus { Ok = 0, Error = 1, Continue = 2 }

public readonly record struct Header(uint Program, uint Version, int Procedure, MessageType Type, uint Serial, MessageStatus Status)
{
    public static Header Read(XdrReader r) =>
        new(r.UInt(), r.UInt(), r.Int(), (MessageType)r.Int(), r.UInt(), (MessageStatus)r.Int());

    public void Write(XdrWriter w) =>
        w.UInt(Program).UInt(Version).Int(Procedure).Int((int)Type).UInt(Serial).Int((int)Status);
}

/// <summary>virErrorNumber values clients act on (virsh prints the message; python-libvirt raises by code).</summary>
public enum VirErrorCode
{
    InternalError = 1,
    NoSupport = 3,
    NoConnect = 5,
    InvalidArg = 8,
    OperationFailed = 9,
    XmlError = 27,
    OperationDenied = 29,
    Rpc = 39,
    NoDomain = 42,
    NoNetwork = 43,
    NoStoragePool = 49,
    NoStorageVol = 50,
    OperationInvalid = 55,
    NoInterface = 57,
    OperationTimeout = 68,
    NoDomainSnapshot = 72,
}

/// <summary>virErrorDomain: where an error comes from.</summary>
public enum VirErrorDomain { None = 0, Dom = 6, Rpc = 7, Qemu = 10, Network = 19, Storage = 18, Remote = 13, Interface = 26 }

/// <summary>An error for the client, as libvirt's remote_error carries it.</summary>
public sealed class RpcError(VirErrorCode code, string message, VirErrorDomain domain = VirErrorDomain.Qemu) : Exception(message)
{
    public VirErrorCode Code { get; } = code;
    public VirErrorDomain Domain { get; } = domain;

    /// <summary>remote_error: code, domain, message, level (2: error), then the fields no client needs, empty.</summary>
    public void Write(XdrWriter w) =>
        w.Int((int)Code).Int((int)Domain).OptString(Message).Int(2)
         .Bool(false)                                   // dom
         .OptString(null).OptString(null).OptString(null) // str1..3
         .Int(0).Int(0)                                 // int1, int2
         .Bool(false);                                  // net
}
