using System.Buffers.Binary;
using System.Text;

namespace Vireo.Libvirt;

/// <summary>A malformed or oversized XDR message (the peer gets an RPC error, the connection goes on).</summary>
public sealed class XdrException(string message) : Exception(message);

/// <summary>
/// XDR (RFC 4506) encoding, the subset libvirt's remote protocol uses: 4-byte big-endian
/// integers, 8-byte hypers, strings and opaques padded to 4 bytes, optional values as a
/// bool then the value. Written by hand: no .NET library speaks XDR, and the codec is small.
/// </summary>
public sealed class XdrWriter
{
    private byte[] _buf = new byte[256];
    public int Length { get; private set; }

    public ReadOnlySpan<byte> Span => _buf.AsSpan(0, Length);
    public ReadOnlyMemory<byte> Memory => _buf.AsMemory(0, Length);

    private Span<byte> Take(int n)
    {
        if (Length + n > _buf.Length) System.Array.Resize(ref _buf, Math.Max(_buf.Length * 2, Length + n));
        var s = _buf.AsSpan(Length, n);
        Length += n;
        return s;
    }

    public XdrWriter Int(int v) { BinaryPrimitives.WriteInt32BigEndian(Take(4), v); return this; }
    public XdrWriter UInt(uint v) { BinaryPrimitives.WriteUInt32BigEndian(Take(4), v); return this; }
    public XdrWriter Hyper(long v) { BinaryPrimitives.WriteInt64BigEndian(Take(8), v); return this; }
    public XdrWriter UHyper(ulong v) { BinaryPrimitives.WriteUInt64BigEndian(Take(8), v); return this; }
    public XdrWriter Bool(bool v) => Int(v ? 1 : 0);

    /// <summary>Bytes that are XDR already (another writer's output), copied as they are.</summary>
    public XdrWriter Raw(ReadOnlySpan<byte> xdr)
    {
        xdr.CopyTo(Take(xdr.Length));
        return this;
    }

    public XdrWriter FixedOpaque(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Take(bytes.Length));
        Take(Pad(bytes.Length)).Clear();
        return this;
    }

    public XdrWriter Opaque(ReadOnlySpan<byte> bytes)
    {
        UInt((uint)bytes.Length);
        return FixedOpaque(bytes);
    }

    public XdrWriter String(string s) => Opaque(Encoding.UTF8.GetBytes(s));

    /// <summary>remote_string: a string that may be null.</summary>
    public XdrWriter OptString(string? s) => s is null ? Bool(false) : Bool(true).String(s);

    /// <summary>A fixed array of C chars: XDR gives every char four bytes.</summary>
    public XdrWriter FixedChars(string s, int count)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        for (int i = 0; i < count; i++) Int(i < bytes.Length && i < count - 1 ? (sbyte)bytes[i] : 0);
        return this;
    }

    public XdrWriter Array<T>(IReadOnlyCollection<T> items, Action<XdrWriter, T> each)
    {
        UInt((uint)items.Count);
        foreach (var x in items) each(this, x);
        return this;
    }

    internal static int Pad(int n) => (4 - (n & 3)) & 3;
}

/// <summary>Reads what <see cref="XdrWriter"/> writes, refusing truncated data and lengths beyond the protocol's limits.</summary>
public sealed class XdrReader(ReadOnlyMemory<byte> data)
{
    private int _pos;

    public bool AtEnd => _pos == data.Length;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || _pos + n > data.Length) throw new XdrException($"the message ends early (needs {n} more bytes at offset {_pos}, has {data.Length - _pos})");
        var s = data.Span.Slice(_pos, n);
        _pos += n;
        return s;
    }

    public int Int() => BinaryPrimitives.ReadInt32BigEndian(Take(4));
    public uint UInt() => BinaryPrimitives.ReadUInt32BigEndian(Take(4));
    public long Hyper() => BinaryPrimitives.ReadInt64BigEndian(Take(8));
    public ulong UHyper() => BinaryPrimitives.ReadUInt64BigEndian(Take(8));
    public double Double() => BinaryPrimitives.ReadDoubleBigEndian(Take(8));

    public bool Bool() => Int() switch
    {
        0 => false,
        1 => true,
        var v => throw new XdrException($"a bool is {v}, not 0 or 1"),
    };

    public byte[] FixedOpaque(int n)
    {
        var b = Take(n).ToArray();
        Take(XdrWriter.Pad(n));
        return b;
    }

    public byte[] Opaque(uint max)
    {
        var n = UInt();
        if (n > max) throw new XdrException($"an opaque of {n} bytes is over the limit of {max}");
        return FixedOpaque((int)n);
    }

    /// <summary>REMOTE_STRING_MAX is 1 MiB (4 MiB for XML documents on newer libvirt); a longer string is refused.</summary>
    public string String(uint max = 4 << 20)
    {
        var n = UInt();
        if (n > max) throw new XdrException($"a string of {n} bytes is over the limit of {max}");
        var s = Encoding.UTF8.GetString(Take((int)n));
        Take(XdrWriter.Pad((int)n));
        return s;
    }

    public string? OptString() => Bool() ? String() : null;

    /// <summary>remote_uuid: 16 bytes, in the byte order libvirt stores UUIDs in.</summary>
    public Guid Uuid() => new(FixedOpaque(16), bigEndian: true);

    public List<T> Array<T>(uint max, Func<XdrReader, T> each)
    {
        var n = UInt();
        if (n > max) throw new XdrException($"an array of {n} items is over the limit of {max}");
        var list = new List<T>((int)n);
        for (int i = 0; i < n; i++) list.Add(each(this));
        return list;
    }
}
