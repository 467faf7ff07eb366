using System.Collections;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Forklift.Spawning;

/// <summary>
/// The caller's environment at one moment, exactly as .NET manages it: what
/// <c>Environment.GetEnvironmentVariable</c>/<c>SetEnvironmentVariable</c> read and write and what
/// <c>Process.Start</c> hands a child. Immutable; <see cref="Capture()"/> reads it afresh on every start and
/// returns the previous snapshot itself while nothing has changed.
/// </summary>
/// <remarks>
/// <para>
/// Where that environment lives: CoreCLR on Unix does not keep it in libc's <c>environ</c> but in its PAL
/// (src/coreclr/pal/src/misc/environ.cpp: <c>palEnvironment</c>, guarded by the critical section
/// <c>gcsEnvironment</c>); <c>SetEnvironmentVariable</c> changes only that copy (checked on .NET 10:
/// <c>SystemNative_GetEnviron</c>, i.e. libc's <c>environ</c>, does not see it). There is no managed dictionary to
/// read either (that is NativeAOT's and Mono's design), and no change counter. <c>GetEnvironmentVariables</c>, and
/// through it <c>Process.Start</c>, calls the PAL's <c>GetEnvironmentStringsW</c>, which copies the whole
/// environment into one native block <c>NAME=value\0...\0\0</c> under that lock, then builds a Hashtable of
/// strings from it: about 10 KB for 50 variables, on every call.
/// </para>
/// <para>
/// <see cref="Capture()"/> calls the same <c>GetEnvironmentStringsW</c> (CoreLib's own P/Invoke,
/// <c>Interop.Kernel32</c>, found once by reflection with its signature checked and called through its function
/// pointer): the same snapshot, taken under the same lock, with every earlier <c>SetEnvironmentVariable</c> in it.
/// If the block equals the last one read (one vectorized comparison), the last snapshot is returned as it is;
/// otherwise the block is copied once into a new snapshot and indexed in place. Either way the runtime's block
/// goes straight back to <c>FreeEnvironmentStringsW</c>. So a start costs the runtime's copy and a comparison, and
/// allocates nothing while the environment stays the same.
/// </para>
/// <para>
/// The index follows <c>GetEnvironmentVariables</c>' parse: an entry without '=' or whose name starts with '=' is
/// skipped, and of two entries with one name the first wins. Where the runtime has no such methods or their
/// signatures differ (NativeAOT, Mono, a trimmed CoreLib, a runtime that moved them), <see cref="Capture()"/>
/// falls back to <c>GetEnvironmentVariables</c> itself: the same variables, at that cost.
/// </para>
/// </remarks>
internal sealed unsafe class CallerEnvironment
{
    private static readonly delegate*<char*> s_getBlock;
    private static readonly delegate*<char*, int> s_freeBlock;
    private static CallerEnvironment? s_last; // the last snapshot read from the runtime (one reference: atomic)

    private readonly char[] _block; // every entry "NAME=value\0" as read, skipped ones included
    private readonly int[] _index;  // per variable: start, name length, value length
    private readonly int _count;
    private Utf8Block? _utf8;

    static CallerEnvironment()
    {
        if (TryFindRuntimeBlock(typeof(object).Assembly, out var get, out var free))
        {
            s_getBlock = get;
            s_freeBlock = free;
        }
    }

    private CallerEnvironment(char[] block)
    {
        _block = block;
        int entries = block.AsSpan().Count('\0');
        _index = new int[entries * 3];
        _count = Index(block, _index);
    }

    /// <summary>True when <see cref="Capture()"/> reads the runtime's block (false: it falls back to GetEnvironmentVariables).</summary>
    public static bool ReadsRuntimeBlock => s_getBlock != null;

    /// <summary>The variables (after skipping malformed entries and later duplicates).</summary>
    public int Count => _count;

    /// <summary>Variable <paramref name="i"/> (0 &lt;= i &lt; <see cref="Count"/>), in the block's order.</summary>
    public EnvironmentVariable this[int i]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)i, (uint)_count, nameof(i));
            int start = _index[3 * i], name = _index[3 * i + 1], value = _index[3 * i + 2];
            return new EnvironmentVariable(_block.AsSpan(start, name), _block.AsSpan(start + name + 1, value));
        }
    }

    /// <summary>The caller's environment now: the runtime's block, or <c>GetEnvironmentVariables</c> where it cannot be read.</summary>
    public static CallerEnvironment Capture() => Capture(useRuntimeBlock: true);

    /// <summary><see cref="Capture()"/>, optionally forced onto the fallback (for tests that compare the two).</summary>
    internal static CallerEnvironment Capture(bool useRuntimeBlock)
    {
        if (!useRuntimeBlock || s_getBlock == null)
            return FromDictionary(System.Environment.GetEnvironmentVariables());
        char* block = s_getBlock();
        if (block == null)
            throw new OutOfMemoryException("GetEnvironmentStringsW returned no block."); // as GetEnvironmentVariables does
        try
        {
            // The entries run up to the first empty one (the block ends "\0\0"); every entry is "NAME=value".
            char* end = block;
            while (*end != '\0')
                end += MemoryMarshal.CreateReadOnlySpanFromNullTerminated(end).Length + 1;
            var entries = new ReadOnlySpan<char>(block, checked((int)(end - block)));
            var last = s_last;
            if (last is not null && entries.SequenceEqual(last._block))
                return last;
            var snapshot = new CallerEnvironment(entries.ToArray());
            s_last = snapshot;
            return snapshot;
        }
        finally
        {
            int ok = s_freeBlock(block);
            Debug.Assert(ok != 0, "FreeEnvironmentStringsW failed");
        }
    }

    /// <summary>An environment given as names and values (string keys without '=', string or null values).</summary>
    /// <exception cref="ArgumentException">A name is empty or has '=' or NUL, or a value has NUL.</exception>
    public static CallerEnvironment FromDictionary(IDictionary variables)
    {
        var block = new StringBuilder();
        foreach (DictionaryEntry e in variables)
        {
            var name = (string)e.Key;
            var value = (string?)e.Value ?? "";
            if (name.Length == 0 || name.AsSpan().IndexOfAny('=', '\0') >= 0 || value.Contains('\0'))
                throw new ArgumentException($"not an environment variable: '{name}'", nameof(variables));
            block.Append(name).Append('=').Append(value).Append('\0');
        }
        return new CallerEnvironment(block.ToString().ToCharArray());
    }

    /// <summary>An environment given as its entries <c>NAME=value</c> separated by NUL (for tests of the parse).</summary>
    internal static CallerEnvironment FromBlock(string entries) =>
        new(entries.Length == 0 ? [] : (entries + "\0").ToCharArray());

    /// <summary>The value of <paramref name="name"/>, if it is set.</summary>
    public bool TryGetValue(ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        for (int i = 0; i < _count; i++)
        {
            var variable = this[i];
            if (variable.Name.SequenceEqual(name))
            {
                value = variable.Value;
                return true;
            }
        }
        value = default;
        return false;
    }

    /// <summary>
    /// The whole environment in UTF-8 as the child's envp strings want it (each entry <c>NAME=value\0</c>), made
    /// on first use and kept with the snapshot: a start that inherits the environment unchanged copies these bytes
    /// into its plan in one piece.
    /// </summary>
    public Utf8Block Utf8 => _utf8 ??= Utf8Block.Of(_block, _index, _count); // a race makes two equal ones: harmless

    /// <summary>
    /// Finds CoreLib's <c>Interop.Kernel32.GetEnvironmentStringsW</c> (<c>char* ()</c>) and
    /// <c>FreeEnvironmentStringsW</c> (<c>BOOL (char*)</c>, BOOL an int enum) in <paramref name="coreLib"/>, as
    /// function pointers; false, with both null, when either is missing or its signature differs.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "When trimming removed the type, the lookup finds nothing and Capture falls back to GetEnvironmentVariables.")]
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "When trimming removed the methods, the lookup finds nothing and Capture falls back to GetEnvironmentVariables.")]
    internal static bool TryFindRuntimeBlock(Assembly coreLib, out delegate*<char*> get, out delegate*<char*, int> free)
    {
        get = null;
        free = null;
        try
        {
            var kernel32 = coreLib.GetType("Interop+Kernel32", throwOnError: false);
            const BindingFlags Static = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
            var getMethod = kernel32?.GetMethod("GetEnvironmentStringsW", Static, Type.EmptyTypes);
            var freeMethod = kernel32?.GetMethod("FreeEnvironmentStringsW", Static, [typeof(char*)]);
            if (getMethod is null || freeMethod is null || getMethod.ReturnType != typeof(char*))
                return false;
            // BOOL is an enum over int: returned exactly as an int by the managed calling convention.
            var freeReturn = freeMethod.ReturnType.IsEnum ? Enum.GetUnderlyingType(freeMethod.ReturnType) : freeMethod.ReturnType;
            if (freeReturn != typeof(int))
                return false;
            get = (delegate*<char*>)getMethod.MethodHandle.GetFunctionPointer();
            free = (delegate*<char*, int>)freeMethod.MethodHandle.GetFunctionPointer();
            return get != null && free != null;
        }
        catch (Exception e) when (e is NotSupportedException or MemberAccessException or TypeLoadException or AmbiguousMatchException)
        {
            get = null;
            free = null;
            return false;
        }
    }

    /// <summary>Fills <paramref name="index"/> with the well-formed, first-of-their-name entries; returns how many.</summary>
    private static int Index(ReadOnlySpan<char> block, int[] index)
    {
        int entries = index.Length / 3;
        if (entries == 0)
            return 0;
        // Open addressing over the names' hashes: slot = 1 + variable number, 0 = free.
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)entries * 2);
        Span<int> table = size <= 512 ? stackalloc int[size] : new int[size];
        table.Clear();
        int count = 0;
        for (int at = 0; at < block.Length;)
        {
            var entry = block[at..];
            entry = entry[..entry.IndexOf('\0')];
            int eq = entry.IndexOf('=');
            if (eq > 0) // no '=' or a name starting with '=': skipped, as GetEnvironmentVariables does
            {
                var name = entry[..eq];
                int slot = string.GetHashCode(name) & (size - 1);
                bool seen = false;
                for (; table[slot] != 0; slot = (slot + 1) & (size - 1))
                {
                    int other = table[slot] - 1;
                    if (block.Slice(index[3 * other], index[3 * other + 1]).SequenceEqual(name))
                    {
                        seen = true; // a later duplicate: the first wins
                        break;
                    }
                }
                if (!seen)
                {
                    index[3 * count] = at;
                    index[3 * count + 1] = eq;
                    index[3 * count + 2] = entry.Length - eq - 1;
                    table[slot] = ++count;
                }
            }
            at += entry.Length + 1;
        }
        return count;
    }
}

/// <summary>
/// A <see cref="CallerEnvironment"/> in UTF-8: <see cref="Bytes"/> holds every entry of the block (skipped ones
/// too) as <c>NAME=value\0</c>; <see cref="Starts"/> has the offset of each variable's entry, in order.
/// </summary>
internal sealed class Utf8Block(byte[] bytes, int[] starts)
{
    public byte[] Bytes { get; } = bytes;

    public int[] Starts { get; } = starts;

    public static Utf8Block Of(char[] block, int[] index, int count)
    {
        var bytes = Encoding.UTF8.GetBytes(block);
        var starts = new int[count];
        if (bytes.Length == block.Length)
        {
            for (int i = 0; i < count; i++)
                starts[i] = index[3 * i]; // all ASCII: byte offsets are char offsets
            return new Utf8Block(bytes, starts);
        }
        // Walk the entries of both forms side by side (each is one NUL-terminated string in the same order).
        int c = 0, b = 0;
        for (int i = 0; i < count; i++)
        {
            while (c < index[3 * i])
            {
                c += block.AsSpan(c).IndexOf('\0') + 1;
                b += bytes.AsSpan(b).IndexOf((byte)0) + 1;
            }
            starts[i] = b;
        }
        return new Utf8Block(bytes, starts);
    }
}

/// <summary>One variable of a <see cref="CallerEnvironment"/> or <see cref="ChildEnvironment"/>: views, not strings.</summary>
internal readonly ref struct EnvironmentVariable(ReadOnlySpan<char> name, ReadOnlySpan<char> value)
{
    public ReadOnlySpan<char> Name { get; } = name;

    public ReadOnlySpan<char> Value { get; } = value;

    public void Deconstruct(out ReadOnlySpan<char> name, out ReadOnlySpan<char> value)
    {
        name = Name;
        value = Value;
    }
}
