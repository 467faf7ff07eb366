using System.Text;

namespace Forklift.Interop;

/// <summary>NUL-terminated UTF-8 strings in the fixed-size char arrays of the native structs.</summary>
internal static class NativeText
{
    /// <summary>
    /// Writes <paramref name="value"/> as UTF-8 plus a terminating NUL into <paramref name="destination"/>,
    /// zeroing the rest (the native side checks the last byte is NUL).
    /// </summary>
    /// <exception cref="ArgumentException">The value contains NUL or does not fit with its terminator.</exception>
    internal static void Write(string value, Span<byte> destination, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(value, parameterName);
        if (value.Contains('\0'))
            throw new ArgumentException("The path contains a NUL character.", parameterName);
        var length = Encoding.UTF8.GetByteCount(value);
        if (length > destination.Length - 1)
            throw new ArgumentException(
                $"The path needs {length} UTF-8 bytes; at most {destination.Length - 1} fit (a NUL follows).",
                parameterName);
        destination.Clear();
        Encoding.UTF8.GetBytes(value, destination);
    }

    /// <summary>Reads the UTF-8 text up to the first NUL (or the whole span).</summary>
    internal static string Read(ReadOnlySpan<byte> source)
    {
        var end = source.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? source : source[..end]);
    }
}
