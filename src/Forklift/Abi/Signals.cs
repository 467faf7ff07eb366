using System.Globalization;

namespace Forklift.Abi;

/// <summary>
/// Linux signal numbers 1..64 (x86-64) with their names. Real-time signals use the kernel's numbering:
/// <c>SIGRTMIN</c> is 32 and <c>SIGRTMAX</c> is 64 (glibc reserves 32 and 33 for itself, so its own
/// <c>SIGRTMIN</c> macro is 34; here <c>SIGRTMIN+2</c> names that signal).
/// </summary>
public static class Signals
{
    /// <summary>The highest valid signal, <c>_NSIG</c> (kernel <c>valid_signal(sig)</c> is <c>sig &lt;= 64</c>).</summary>
    public const int Max = 64;

    /// <summary>The kernel's first real-time signal.</summary>
    public const int RtMin = 32;

    /// <summary><c>SIGCHLD</c>, the usual exit signal.</summary>
    public const int SigChld = 17;

    private static readonly string[] Classic =
    [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
        "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR",
        "SIGSYS",
    ];

    private static readonly string[] Names = BuildNames();

    private static string[] BuildNames()
    {
        var names = new string[Max + 1];
        Array.Copy(Classic, names, Classic.Length);
        for (int s = RtMin; s <= Max; s++)
        {
            names[s] = s == RtMin ? "SIGRTMIN" : s == Max ? "SIGRTMAX" : "SIGRTMIN+" + (s - RtMin).ToString(CultureInfo.InvariantCulture);
        }
        return names;
    }

    /// <summary>True for 1..64, the signals the kernel can deliver.</summary>
    public static bool IsValid(long signal) => signal is >= 1 and <= Max;

    /// <summary>The name of a signal (<c>SIGCHLD</c>), <c>0</c> for zero, or the number for anything else.</summary>
    public static string Name(long signal) =>
        IsValid(signal) ? Names[signal] : signal.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Parses a signal: a number (0..255 accepted, since the legacy exit-signal byte can carry any of them), or a
    /// name with or without <c>SIG</c>, case-insensitive, including <c>RTMIN+n</c> and <c>RTMAX-n</c>.
    /// </summary>
    public static bool TryParse(string text, out int signal, out string? error)
    {
        error = null;
        signal = 0;
        string t = text.Trim();
        if (t.Length > 0 && (char.IsAsciiDigit(t[0])))
        {
            if (NumberText.TryParseUInt64(t, out ulong n) && n <= 255)
            {
                signal = (int)n;
                return true;
            }
            error = $"signal number '{text}' is not in 0..255";
            return false;
        }
        string upper = t.ToUpperInvariant();
        if (!upper.StartsWith("SIG", StringComparison.Ordinal))
        {
            upper = "SIG" + upper;
        }
        for (int s = 1; s <= Max; s++)
        {
            if (Names[s] == upper)
            {
                signal = s;
                return true;
            }
        }
        foreach (var (prefix, bas, sign) in new[] { ("SIGRTMIN+", RtMin, 1), ("SIGRTMAX-", Max, -1) })
        {
            if (upper.StartsWith(prefix, StringComparison.Ordinal)
                && int.TryParse(upper.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int k)
                && k <= Max - RtMin)
            {
                signal = bas + sign * k;
                return true;
            }
        }
        // Common aliases the kernel headers define.
        switch (upper)
        {
            case "SIGIOT": signal = 6; return true;
            case "SIGPOLL": signal = 29; return true;
            case "SIGCLD": signal = 17; return true;
        }
        error = $"unknown signal '{text}' (use a name such as SIGCHLD or CHLD, or a number)";
        return false;
    }

    /// <summary>Parses like <see cref="TryParse"/>, throwing <see cref="FormatException"/> on failure.</summary>
    public static int Parse(string text) => TryParse(text, out int s, out var e) ? s : throw new FormatException(e);
}
