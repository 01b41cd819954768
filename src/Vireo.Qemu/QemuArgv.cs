using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Vireo.Model;

namespace Vireo.Qemu;

/// <summary>
/// The QEMU command line for a definition: a pure function, tested against golden files
/// (tests/Vireo.Tests/Golden). Devices are described once as JSON properties and written as
/// -device {json}, so hot-plug (device_add) can reuse the same description.
/// </summary>
public static partial class QemuArgv
{
    public static List<string> Build(DomainDef d, LaunchContext ctx)
    {
        var a = new Args();
        a.Add(ctx.Emulator);
        Machine(d, ctx, a);
        Controllers(d, a);
        Disks(d, a);
        Filesystems(d, ctx, a);
        Nics(d, ctx, a);
        Chardevs(d, ctx, a);
        Audio(d, a);
        Graphics(d, ctx, a);
        Videos(d, a);
        Sounds(d, a);
        UsbDevices(d, a);
        Misc(d, ctx, a);
        // <qemu:commandline>: the user's own arguments, last, exactly as written.
        a.Add([.. d.QemuArgs]);
        return a.List;
    }

    /// <summary>The argv as one line a person can paste into a shell (for logs and errors).</summary>
    public static string Printable(IEnumerable<string> argv) =>
        string.Join(' ', argv.Select(x => x.Length > 0 && x.All(c => char.IsAsciiLetterOrDigit(c) || "-_=,./:@+".Contains(c)) ? x : "'" + x.Replace("'", "'\\''") + "'"));

    internal sealed class Args
    {
        public List<string> List { get; } = [];
        public void Add(params string[] items) => List.AddRange(items);
        public void Device(JsonObject props) => Add("-device", Json(props));
        public void Blockdev(JsonObject props) => Add("-blockdev", Json(props));
        public void Object(JsonObject props) => Add("-object", Json(props));
    }

    internal static string Json(JsonNode node) => node.ToJsonString(JsonOpts);
    private static readonly JsonSerializerOptions JsonOpts = new() { WriteIndented = false };

    internal static bool IsQ35(DomainDef d) => d.Os.Machine?.Contains("q35", StringComparison.Ordinal) == true;

    internal static string RootBus(DomainDef d) => IsQ35(d) ? "pcie.0" : "pci.0";

    /// <summary>Adds bus/addr from a libvirt PCI address, when the definition has one.</summary>
    internal static void PciAddress(DomainDef d, AddressDef? address, JsonObject props)
    {
        if (address is not { Type: "pci" }) return;
        int Num(string key) => ParseNum(address.Get(key) ?? "0");
        var bus = Num("bus");
        props["bus"] = bus == 0 ? RootBus(d) : $"pci.{bus}";
        var slot = Num("slot");
        var fn = Num("function");
        props["addr"] = fn == 0 ? $"0x{slot:x}" : $"0x{slot:x}.0x{fn:x}";
        if (address.Get("multifunction") == "on") props["multifunction"] = true;
    }

    internal static int ParseNum(string s) =>
        s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? int.Parse(s.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture)
            : int.Parse(s, CultureInfo.InvariantCulture);
}
