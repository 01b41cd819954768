using System.Globalization;
using System.Security.Cryptography;

namespace Vireo.Model;

public static class MacAddress
{
    /// <summary>Normalises "52:54:00:AB:cd:ef" to lower case; null when it is not a MAC.</summary>
    public static string? Normalize(string text)
    {
        var parts = text.Trim().Split(':');
        if (parts.Length != 6) return null;
        var bytes = new byte[6];
        for (int i = 0; i < 6; i++)
            if (parts[i].Length is < 1 or > 2 || !byte.TryParse(parts[i], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out bytes[i]))
                return null;
        return Format(bytes);
    }

    public static bool IsMulticast(string mac) => (Convert.ToByte(mac[..2], 16) & 1) != 0;

    /// <summary>A random address with QEMU's 52:54:00 prefix, as libvirt makes.</summary>
    public static string Generate()
    {
        Span<byte> tail = stackalloc byte[3];
        RandomNumberGenerator.Fill(tail);
        return Format([0x52, 0x54, 0x00, tail[0], tail[1], tail[2]]);
    }

    private static string Format(ReadOnlySpan<byte> b) =>
        string.Join(':', b.ToArray().Select(x => x.ToString("x2", CultureInfo.InvariantCulture)));
}
