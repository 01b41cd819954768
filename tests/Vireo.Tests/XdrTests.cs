using Vireo.Libvirt;

namespace Vireo.Tests;

/// <summary>The XDR codec and libvirt's RPC framing, byte for byte as RFC 4506 and virnetprotocol.x lay them out.</summary>
public class XdrTests
{
    [Fact]
    public void Integers_are_big_endian_and_strings_are_padded_to_four_bytes()
    {
        var w = new XdrWriter().Int(-2).UInt(0x20008086).UHyper(7_002_000).String("qemu").String("vm1").OptString(null).OptString("x").Bool(true);
        Assert.Equal(
            "fffffffe" + "20008086" + "00000000006ad790" + "00000004" + "71656d75" + "00000003" + "766d3100" + "00000000" + "00000001" + "00000001" + "78000000" + "00000001",
            Convert.ToHexString(w.Span).ToLowerInvariant());
        var r = new XdrReader(w.Span.ToArray());
        Assert.Equal(-2, r.Int());
        Assert.Equal(0x20008086u, r.UInt());
        Assert.Equal(7_002_000ul, r.UHyper());
        Assert.Equal("qemu", r.String());
        Assert.Equal("vm1", r.String());
        Assert.Null(r.OptString());
        Assert.Equal("x", r.OptString());
        Assert.True(r.Bool());
        Assert.True(r.AtEnd);
    }

    [Fact]
    public void A_fixed_char_array_gives_each_char_four_bytes()
    {
        var w = new XdrWriter().FixedChars("ab", 4);
        Assert.Equal("00000061" + "00000062" + "00000000" + "00000000", Convert.ToHexString(w.Span).ToLowerInvariant());
    }

    [Fact]
    public void Truncated_and_oversized_data_is_refused_with_what_was_wrong()
    {
        Assert.Contains("ends early", Assert.Throws<XdrException>(() => new XdrReader(new byte[] { 0, 0, 0, 9, 1, 2 }).String()).Message);
        Assert.Contains("over the limit of 4", Assert.Throws<XdrException>(() => new XdrReader(new byte[] { 0, 0, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0 }).String(4)).Message);
        Assert.Contains("not 0 or 1", Assert.Throws<XdrException>(() => new XdrReader(new byte[] { 0, 0, 0, 2 }).Bool()).Message);
        Assert.Contains("array of 70000 items", Assert.Throws<XdrException>(() => new XdrReader(new byte[] { 0, 1, 0x11, 0x70 }).Array(16384, r => r.Int())).Message);
    }

    [Fact]
    public void The_header_and_remote_error_are_laid_out_as_libvirt_reads_them()
    {
        var w = new XdrWriter();
        new Header(Rpc.RemoteProgram, 1, (int)Proc.DomainLookupByName, MessageType.Reply, 7, MessageStatus.Error).Write(w);
        new RpcError(VirErrorCode.NoDomain, "Domain not found: x").Write(w);
        var r = new XdrReader(w.Span.ToArray());
        var h = Header.Read(r);
        Assert.Equal((Rpc.RemoteProgram, 1u, 23, MessageType.Reply, 7u, MessageStatus.Error), (h.Program, h.Version, h.Procedure, h.Type, h.Serial, h.Status));
        Assert.Equal(42, r.Int());          // VIR_ERR_NO_DOMAIN
        Assert.Equal(10, r.Int());          // VIR_FROM_QEMU
        Assert.Equal("Domain not found: x", r.OptString());
        Assert.Equal(2, r.Int());           // VIR_ERR_ERROR
        Assert.False(r.Bool());             // dom
        Assert.Null(r.OptString()); Assert.Null(r.OptString()); Assert.Null(r.OptString());
        Assert.Equal(0, r.Int()); Assert.Equal(0, r.Int());
        Assert.False(r.Bool());             // net
        Assert.True(r.AtEnd);
    }
}
