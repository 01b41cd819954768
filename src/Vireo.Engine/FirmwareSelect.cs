using Vireo.Host;
using Vireo.Model;

namespace Vireo.Engine;

/// <summary>
/// &lt;os firmware='efi'&gt;: picks OVMF from QEMU's firmware descriptors at define time (as
/// libvirt does) and writes what it picked into the definition — the loader, the variable
/// store template and the domain's own NVRAM path — so dumpxml shows what the guest runs.
/// The choice is libvirt's: the first descriptor (in file-name order) for the machine that has
/// every feature asked for with enabled='yes' and none asked for with enabled='no'. With no
/// features asked for, that is Debian's Secure Boot firmware with Microsoft's keys on q35
/// (40-edk2-x86_64-secure-enrolled), as libvirt 9.0 gives a guest moved from it.
/// </summary>
public static class FirmwareSelect
{
    public static void Apply(DomainDef d, IReadOnlyList<FirmwareDescriptor> all, string nvramDir)
    {
        var os = d.Os;
        if (os.Firmware == "bios")
        {
            if (os.Loader is { Type: "pflash" })
                throw new VireoException(ErrorCode.InvalidArgument, "<os firmware='bios'> cannot have a pflash <loader>; drop one of them.");
            return;
        }
        if (os.Firmware != "efi" && os.Loader is not { Type: "pflash" }) return;
        if (os.Loader is null)
        {
            bool? Wanted(string f) => os.FirmwareFeatures.Where(x => x.Name == f).Select(x => (bool?)x.Enabled).FirstOrDefault();
            var wantSecure = Wanted("secure-boot");
            var secure = wantSecure == true;
            var keys = Wanted("enrolled-keys");
            if (keys == true && wantSecure == false)
                throw new VireoException(ErrorCode.InvalidArgument, "Firmware feature 'enrolled-keys' needs 'secure-boot' enabled too.");
            var machine = os.Machine ?? "pc";
            var pick = all.FirstOrDefault(f => f.Supports(machine) && (wantSecure is null || f.Has("secure-boot") == wantSecure) && (keys is null || f.Has("enrolled-keys") == keys));
            if (pick is null)
            {
                if (secure && !machine.Contains("q35"))
                    throw new VireoException(ErrorCode.InvalidArgument, $"Secure Boot needs the q35 machine type (its firmware needs SMM); this domain uses '{machine}'. Use --machine q35.");
                var what = wantSecure switch { true => keys == true ? " with Secure Boot and enrolled keys" : " with Secure Boot", false => " without Secure Boot", null => "" };
                throw new VireoException(ErrorCode.InvalidArgument,
                    all.Count == 0
                        ? $"No UEFI firmware is installed: no descriptors in {string.Join(" or ", FirmwareDescriptor.SearchDirs)}. Install Debian's 'ovmf' package."
                        : $"No UEFI firmware{what} for machine '{machine}' among {all.Count} descriptors in {string.Join(" or ", FirmwareDescriptor.SearchDirs)}.");
            }
            os.Loader = new LoaderDef { Path = pick.Code, ReadOnly = true, Type = "pflash", Secure = pick.Has("requires-smm") };
            os.Nvram ??= new NvramDef();
            os.Nvram.Template ??= pick.VarsTemplate;
            if (pick.Has("requires-smm")) d.Features.Smm = true;
        }
        os.Nvram ??= new NvramDef();
        os.Nvram.Path ??= Path.Combine(nvramDir, $"{d.Name}_VARS.fd");
        if (os.Loader.Secure && !(os.Machine ?? "pc").Contains("q35"))
            throw new VireoException(ErrorCode.InvalidArgument, $"A secure loader needs the q35 machine type; this domain uses '{os.Machine ?? "pc"}'. Use --machine q35.");
        if (os.Loader.Secure) d.Features.Smm ??= true;
    }

    /// <summary>Before a start: the loader must exist, and a missing NVRAM is made from its template.</summary>
    public static void PrepareNvram(DomainDef d)
    {
        if (d.Os.Loader is not { Type: "pflash" } l) return;
        if (!File.Exists(l.Path))
            throw new VireoException(ErrorCode.InvalidArgument, $"UEFI firmware '{l.Path}' does not exist; install Debian's 'ovmf' package or fix <loader>.");
        if (d.Os.Nvram is not { Path: { } nv } n || File.Exists(nv)) return;
        if (n.Template is null || !File.Exists(n.Template))
            throw new VireoException(ErrorCode.InvalidArgument, $"NVRAM '{nv}' does not exist and there is no template to make it from{(n.Template is null ? "" : $" ('{n.Template}' is missing)")}; set <nvram template=>.");
        Directory.CreateDirectory(Path.GetDirectoryName(nv)!);
        var tmp = nv + ".tmp";
        File.Copy(n.Template, tmp, overwrite: true);
        File.SetUnixFileMode(tmp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(tmp, nv);
    }
}
