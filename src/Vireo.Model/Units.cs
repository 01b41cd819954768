using System.Globalization;

namespace Vireo.Model;

/// <summary>libvirt's scaled integers ("unit" attributes): memory and sizes.</summary>
public static class Units
{
    /// <summary>Bytes per unit; null when the unit is unknown. Empty means the given default.</summary>
    public static ulong? Scale(string unit) => unit switch
    {
        "b" or "bytes" => 1UL,
        "KB" => 1000UL,
        "k" or "K" or "KiB" => 1024UL,
        "MB" => 1000UL * 1000,
        "M" or "m" or "MiB" => 1024UL * 1024,
        "GB" => 1000UL * 1000 * 1000,
        "G" or "g" or "GiB" => 1024UL * 1024 * 1024,
        "TB" => 1000UL * 1000 * 1000 * 1000,
        "T" or "t" or "TiB" => 1024UL * 1024 * 1024 * 1024,
        _ => null,
    };

    /// <summary>Parses "value" in "unit" (default KiB) to KiB, rounding up like libvirt.</summary>
    public static bool TryToKiB(string value, string? unit, out ulong kib)
    {
        kib = 0;
        if (!ulong.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v)) return false;
        var scale = Scale(string.IsNullOrEmpty(unit) ? "KiB" : unit);
        if (scale is null) return false;
        var bytes = (System.Numerics.BigInteger)v * scale.Value;
        var k = (bytes + 1023) / 1024;
        if (k > ulong.MaxValue) return false;
        kib = (ulong)k;
        return true;
    }

    /// <summary>Parses a size such as "10G", "512M", "1024" (bytes) to bytes.</summary>
    public static bool TryParseSize(string text, out ulong bytes, string defaultUnit = "b")
    {
        bytes = 0;
        text = text.Trim();
        int i = 0;
        while (i < text.Length && char.IsAsciiDigit(text[i])) i++;
        if (i == 0) return false;
        if (!ulong.TryParse(text.AsSpan(0, i), NumberStyles.None, CultureInfo.InvariantCulture, out var v)) return false;
        var unit = text[i..].Trim();
        var scale = Scale(unit.Length == 0 ? defaultUnit : unit);
        if (scale is null) return false;
        var b = (System.Numerics.BigInteger)v * scale.Value;
        if (b > ulong.MaxValue) return false;
        bytes = (ulong)b;
        return true;
    }

    /// <summary>virsh's pretty capacity: "1.00 GiB".</summary>
    public static string Bytes(double b)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        var i = 0;
        while (b >= 1024 && i < units.Length - 1) { b /= 1024; i++; }
        return b.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + " " + units[i];
    }
}
